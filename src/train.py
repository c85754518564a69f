"""Train the tutorial's MLP: `python src/train.py [group=option ...] [key=value ...]`.

Examples: `python src/train.py ema=off reg=l2`, `python src/train.py -m lr=0.1,0.8`.
"""

import sys

import hydra
from omegaconf import DictConfig

from mnist_lightning.cli import quiet_third_party_noise, run_hydra_app, run_reporting_errors
from mnist_lightning.hydra_setup import CONFIG_DIR, hydra_output_dir, in_multirun, save_resolved_config, setup_hydra
from mnist_lightning.training.run import train


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    quiet_third_party_noise()
    output_dir = hydra_output_dir()
    save_resolved_config(cfg, output_dir)
    record = run_reporting_errors(lambda: train(cfg, output_dir))
    if record["status"] == "diverged" and not in_multirun():
        sys.exit(3)  # the run folder still holds metrics.json (status: diverged) and the last good checkpoints
    return record.get("val_acc") or 0.0  # what a sweeper (Optuna) maximises: never test; 0 if diverged


if __name__ == "__main__":
    setup_hydra(sys.argv[1:])
    run_hydra_app(main)
