"""Train the tutorial's MLP: `python src/train.py [group=option ...] [key=value ...]`; `-m` sweeps.

`--help` lists the main keys with their defaults and examples; conf/train.yaml holds them all.
"""

import hydra
from omegaconf import DictConfig

from mnist_lightning.programs import CONFIG_DIR, job, launch


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@job  # missing keys and pre-checks, then a user error is one line (exit 2), in every job of a sweep
def main(cfg: DictConfig) -> float:
    """One training run in Hydra's run folder (one job of a sweep under -m); returns what a sweeper maximises."""
    from mnist_lightning.training.run import app  # here, so --help and config errors need no torch

    return app(cfg)


if __name__ == "__main__":
    launch(main, "train")
