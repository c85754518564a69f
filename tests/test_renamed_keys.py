"""Renamed keys: the old names keep working for one release, with one notice line."""

from __future__ import annotations

import pytest

from mnist_lightning.renamed_keys import RENAMED, rename_overrides, upgrade_data_settings
from tests.helpers import compose_config


@pytest.mark.parametrize(
    ("program", "arg", "expected"),
    [
        ("train", "data.split=random", "data.val_images=random"),
        ("train", "data.split_seed=3", "data.val_seed=3"),
        ("train", "data.split=first,random", "data.val_images=first,random"),  # a sweep keeps its values
        ("evaluate", "output=/tmp/e.json", "results_file=/tmp/e.json"),
        ("export", "output_dir=/tmp/m", "export_dir=/tmp/m"),
        ("predict", "format=csv", "results_as=csv"),
        ("predict", "++output=p.txt", "++results_file=p.txt"),
        ("serve", "threads=2", "torch_threads=2"),
    ],
)
def test_an_old_name_is_taken_as_the_new_one_with_one_notice(program, arg, expected):
    notices: list[str] = []
    assert rename_overrides(program, ["ckpt=x", arg], notices.append) == ["ckpt=x", expected]
    old, new = arg.lstrip("+~").split("=")[0], expected.lstrip("+~").split("=")[0]
    assert notices == [
        f"note: {old}= is renamed {new}= (the old name works until the next release); taking it as {new}="
    ]


def test_current_names_flags_and_other_programs_keys_pass_unchanged():
    argv = ["--help", "-m", "format=onnx", "split=test", "paths.output_dir=/tmp/x", "hydra.run.dir=/tmp/y"]
    notices: list[str] = []
    assert rename_overrides("export", argv, notices.append) == argv  # export's format is a model file format
    assert rename_overrides("evaluate", ["split=test"], notices.append) == ["split=test"]  # a dataset split
    assert notices == []


def has_key(cfg, dotted: str) -> bool:
    *parents, leaf = dotted.split(".")
    for part in parents:
        if part not in cfg:
            return False
        cfg = cfg[part]
    return leaf in cfg


@pytest.mark.parametrize("program", sorted(RENAMED))
def test_every_new_name_is_a_key_of_its_program_and_no_old_name_is(program):
    required = {
        "train": [],
        "evaluate": ["ckpt=x", "data=mnist"],
        "export": ["ckpt=x"],
        "predict": ["ckpt=x", "inputs=x"],
        "serve": ["ckpt=x"],
    }[program]
    cfg = compose_config(program, required)
    for old, new in RENAMED[program].items():
        assert has_key(cfg, new) and not has_key(cfg, old), (old, new)


def test_checkpoints_written_before_the_rename_keep_their_validation_images():
    old = {"root": "data", "val_size": 5000, "split": "random", "split_seed": 7, "batch_size": 100}
    assert upgrade_data_settings(old) == {
        "root": "data",
        "val_size": 5000,
        "val_images": "random",
        "val_seed": 7,
        "batch_size": 100,
    }
    assert upgrade_data_settings({"val_images": "first"}) == {"val_images": "first"}
