"""Evaluate a checkpoint, or watch a run's checkpoints: `python src/evaluate.py ckpt=<checkpoint|folder> [split=test]`.

`--help` lists the main keys with their defaults and examples; conf/evaluate.yaml holds them all.
"""

import hydra
from omegaconf import DictConfig

from mnist_lightning.programs import CONFIG_DIR, job, launch


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
@job  # missing keys and pre-checks, then a user error is one line (exit 2), in every job of a sweep
def main(cfg: DictConfig) -> list:
    """Evaluate the checkpoint (or watch the folder) into Hydra's run folder."""
    from mnist_lightning.evaluation.run import app  # here, so --help and config errors need no torch

    return app(cfg)


if __name__ == "__main__":
    launch(main, "evaluate")
