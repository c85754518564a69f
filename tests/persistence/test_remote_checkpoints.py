"""Checkpoints on fsspec filesystems, as Lightning allows: memory:// (in this process) and file:// URLs."""

from __future__ import annotations

import fsspec
import pytest
import torch

from mnist_lightning.evaluation.run import evaluate
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.persistence.checkpoints import CheckpointError, load_checkpoint, resolve_checkpoint
from mnist_lightning.training.run import train
from tests.helpers import compose_config, compose_train, small_run_overrides


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_train_resume_warm_start_evaluate_and_serve_from_memory_urls(synthetic_root, tmp_path):
    remote = f"memory://runs/{tmp_path.name}"  # one in-memory filesystem per process: a unique folder
    first = small_run_overrides(synthetic_root, tmp_path / "run", steps=40)
    train(
        compose_train([*first, f"callbacks.model_checkpoint.dirpath={remote}/checkpoints"]), tmp_path / "run"
    )
    memory = fsspec.filesystem("memory")
    assert {p.rsplit("/", 1)[1] for p in memory.ls(f"/runs/{tmp_path.name}/checkpoints", detail=False)} == {
        "last.ckpt",
        "step000020.ckpt",
        "step000040.ckpt",
    }
    assert not (tmp_path / "run" / "checkpoints").exists()  # the checkpoint folder really is elsewhere

    # A run folder URL resolves to its newest checkpoint; evaluate reads it with weights_only.
    assert resolve_checkpoint(remote) == f"{remote}/checkpoints/step000040.ckpt"
    [result] = evaluate(compose_config("evaluate", [f"ckpt={remote}"]), tmp_path / "eval")
    assert result["step"] == 40 and result["checkpoint"] == f"{remote}/checkpoints/step000040.ckpt"

    # ckpt_path= a run folder URL resumes from its last.ckpt; init_from= copies the weights.
    resumed = train(
        compose_train(
            [*small_run_overrides(synthetic_root, tmp_path / "r", steps=60), f"ckpt_path={remote}"]
        ),
        tmp_path / "r",
    )
    assert resumed["step"] == 60
    warm = small_run_overrides(synthetic_root, tmp_path / "w", steps=20)
    assert (
        train(compose_train([*warm, f"init_from={remote}/checkpoints/step000040.ckpt"]), tmp_path / "w")[
            "step"
        ]
        == 20
    )

    # predict / serve load the model from the URL too.
    model = load_model(remote)
    assert model.info["step"] == 40 and model.predict(torch.zeros(2, 784).numpy()).shape == (2, 10)


def test_file_urls_are_local_paths_and_unsafe_remote_files_are_refused(trained_run, tmp_path):
    assert resolve_checkpoint(f"file://{trained_run}") == trained_run / "checkpoints" / "step000060.ckpt"
    assert load_checkpoint(f"file://{trained_run}/checkpoints/last.ckpt")["global_step"] == 60

    with fsspec.open(f"memory://unsafe/{tmp_path.name}/evil.ckpt", "wb") as file:
        torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": Exploit()}, file)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(f"memory://unsafe/{tmp_path.name}/evil.ckpt")
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(f"memory://nowhere/{tmp_path.name}")
