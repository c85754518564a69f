"""Which keys a command line sweeps, read with Hydra's own override parser."""

import pytest

from mnist_lightning.hydra_setup import swept_keys
from tests.helpers import run_script


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


def test_the_study_report_runs_after_training_sweeps_only(trained_run, tmp_path):
    result = run_script("evaluate.py", "-m", f"ckpt={trained_run}", "split=val,test", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "results.md").exists() and len(list(tmp_path.glob("*/evaluation.json"))) == 2
