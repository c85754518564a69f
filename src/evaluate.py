"""Evaluate checkpoints: `python src/evaluate.py ckpt=<file|folder> [split=test] [weights=raw] [watch=true]`."""

import hydra
from omegaconf import DictConfig

from mnist_lightning.cli import quiet_third_party_noise, run_hydra_app, run_reporting_errors
from mnist_lightning.hydra_setup import CONFIG_DIR, hydra_output_dir, setup_hydra
from mnist_lightning.evaluation.run import evaluate


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> None:
    quiet_third_party_noise()
    run_reporting_errors(lambda: evaluate(cfg, hydra_output_dir()))


if __name__ == "__main__":
    setup_hydra()
    run_hydra_app(main)
