"""Export a checkpoint to .pt2/.onnx/.json files: `python src/export.py ckpt=<checkpoint|folder> [format=onnx]`.

`--help` lists the main keys with their defaults and examples; conf/export.yaml holds them all.
"""

import hydra
from omegaconf import DictConfig

from mnist_lightning.programs import CONFIG_DIR, job, launch


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
@job  # missing keys and pre-checks, then a user error is one line (exit 2), in every job of a sweep
def main(cfg: DictConfig) -> dict:
    """Write model.pt2, model.onnx and model.json for the checkpoint."""
    from mnist_lightning.persistence.export_run import app  # here, so --help and config errors need no torch

    return app(cfg)


if __name__ == "__main__":
    launch(main, "export")
