"""Export a checkpoint to single files: `python src/export.py ckpt=<file|run folder> [format=onnx]`."""

import hydra
from omegaconf import DictConfig

from mnist_lightning.cli import quiet_third_party_noise, run_hydra_app, run_reporting_errors
from mnist_lightning.hydra_setup import CONFIG_DIR, setup_hydra
from mnist_lightning.persistence.export_run import export


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def main(cfg: DictConfig) -> None:
    quiet_third_party_noise()
    run_reporting_errors(lambda: export(cfg))


if __name__ == "__main__":
    setup_hydra()
    run_hydra_app(main)
