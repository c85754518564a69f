"""Checkpoints load safely: bad, truncated, foreign or malicious files get a clear error, nothing runs."""

import os
import pickle

import pytest
import torch

from mnist_lightning.persistence.checkpoints import (
    FILE_KINDS,
    CheckpointError,
    load_checkpoint,
    resolve_checkpoint,
)
from mnist_lightning.persistence.restore import mlp_from_checkpoint
from mnist_lightning.training import MNISTClassifier
from tests.helpers import run_script


class Exploit:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_resolve_newest_checkpoint_in_run_or_checkpoints_folder(trained_run):
    assert resolve_checkpoint(trained_run).name == "step000060.ckpt"
    assert resolve_checkpoint(trained_run / "checkpoints").name == "step000060.ckpt"
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(trained_run / "nope.ckpt")


def test_model_rebuilt_from_checkpoint_alone(trained_run):
    """Lightning's own loader rebuilds the module from the checkpoint's plain-type hyper-parameters."""
    path = resolve_checkpoint(trained_run)
    checkpoint = load_checkpoint(path)
    model = MNISTClassifier.load_from_checkpoint(path, weights_only=True)
    assert checkpoint["global_step"] == 60 and model.ema is not None
    assert torch.equal(model.net.layer1.weight, checkpoint["state_dict"]["net.layer1.weight"])


def test_malicious_pickle_is_refused_and_never_executed(tmp_path, trained_run):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": Exploit(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)
    result = run_script("evaluate.py", f"ckpt={evil}", f"hydra.run.dir={tmp_path / 'eval'}")
    assert result.returncode == 2 and "refused" in result.stderr + result.stdout
    assert not marker.exists()
    # A raw pickle (not torch's zip format) is refused too.
    raw = tmp_path / "raw.ckpt"
    raw.write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_truncated_and_foreign_files(tmp_path, trained_run):
    good = (trained_run / "checkpoints" / "step000020.ckpt").read_bytes()
    truncated = tmp_path / "half.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    text = tmp_path / "notes.ckpt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="is not a checkpoint: it is another kind of file"):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a Lightning checkpoint of this project"):
        load_checkpoint(foreign)


def test_incompatible_model_is_a_clear_error(trained_run):
    checkpoint = load_checkpoint(trained_run / "checkpoints" / "last.ckpt")
    checkpoint["hyper_parameters"]["net"]["hidden"] = [32]
    with pytest.raises(CheckpointError, match="weights do not fit"):
        mlp_from_checkpoint(checkpoint, "raw")
    checkpoint["hyper_parameters"]["net"]["colour"] = "blue"
    with pytest.raises(CheckpointError, match="hyper-parameters do not describe"):
        mlp_from_checkpoint(checkpoint, "raw")


@pytest.mark.parametrize("magic", [*FILE_KINDS, b"hello world", b""])
def test_a_file_that_is_not_a_checkpoint_is_named_for_what_it_is(tmp_path, magic):
    path = tmp_path / "given.ckpt"
    path.write_bytes(magic + bytes(range(64)) if magic else b"")
    with pytest.raises(CheckpointError, match=r"is not a checkpoint: it is ") as caught:
        load_checkpoint(path)
    assert "pickled" not in str(caught.value) and "\n" not in str(caught.value)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_without_advice_to_turn_the_check_off(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"state_dict": _RunsCode(marker), "hyper_parameters": {}}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="would run code when loaded") as caught:
        load_checkpoint(tmp_path / "evil.ckpt")
    assert "weights_only" not in str(caught.value) and "system" in str(caught.value)
    assert not marker.exists()
