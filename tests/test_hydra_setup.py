"""Which keys a command line sweeps, read with Hydra's own override parser."""

import pytest

from mnist_lightning.hydra_setup import CONFIG_DIR, job_dirname, short_value, swept_keys


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-m", "model.hidden=[500,100]", "lr=0.1,0.8"], {"lr"}),  # a list is one value
        (["model.hidden=[500,100],[64]"], {"model.hidden"}),  # two lists are two values
        (["+data.extra={a:1,b:2}", "ema.decay=0.9,0.99"], {"ema.decay"}),  # a dict is one value
        (["seed=range(3)", "lr=choice(0.1,0.8)", "reg.rate=interval(0,1)"], {"seed", "lr", "reg.rate"}),
        (["variant='a,b'", 'name="x,y"'], set()),  # quoted commas are part of one string
        (["+foo=1,2", "~bar", "++baz=3"], {"foo"}),
        (["data=mnist,fashion_mnist", "hydra/launcher=joblib"], {"data"}),
        (["--multirun", "lr=0.1,", "lr="], set()),  # what does not parse is Hydra's to report
    ],
)
def test_swept_keys_follow_hydras_grammar(argv, expected):
    assert swept_keys(argv) == expected


@pytest.mark.parametrize("program", ["train", "evaluate", "export", "predict", "serve"])
def test_the_study_report_runs_after_training_sweeps_only(program):
    from hydra import compose, initialize_config_dir

    required = {"train": [], "predict": ["ckpt=x", "inputs=x"]}.get(program, ["ckpt=x"])
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(program, overrides=required, return_hydra_config=True)
    targets = [str(c.get("_target_")) for c in (cfg.hydra.callbacks or {}).values()]
    assert any(t.endswith("StudyReport") for t in targets) == (program == "train"), targets


def test_searched_values_are_shown_to_four_significant_digits():
    assert [
        short_value(v)
        for v in ["0.4461709044674453", "1.1437481734488664e-07", "200", "0.8", "relu", "[500]"]
    ] == ["0.4462", "1.144e-07", "200", "0.8", "relu", "[500]"]


def test_job_folders_of_a_search_are_short_and_readable(monkeypatch):
    monkeypatch.setenv("MNIST_LIGHTNING_SWEPT_KEYS", "")
    overrides = "data.batch_size=200,ema.decay=0.9415002569259262,lr=0.4461709044674453,reg.rate=1.1437481734488664e-07"
    params = {
        "data.batch_size": "choice(50,100,200)",
        "ema.decay": "interval",
        "lr": "interval",
        "reg.rate": "interval",
    }
    assert (
        job_dirname(overrides, params) == "data.batch_size=200,ema.decay=0.9415,lr=0.4462,reg.rate=1.144e-07"
    )
