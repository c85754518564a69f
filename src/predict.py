"""Classify image files: `python src/predict.py ckpt=<checkpoint|folder|.pt2|.onnx> inputs=<files|folder>`.

`--help` lists the main keys with their defaults and examples; conf/predict.yaml holds them all.
"""

import hydra
from omegaconf import DictConfig

from mnist_lightning.programs import CONFIG_DIR, job, launch


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
@job  # missing keys and pre-checks, then a user error is one line (exit 2), in every job of a sweep
def main(cfg: DictConfig) -> list:
    """Classify the image files; print (or write) the predictions."""
    from mnist_lightning.inference.run import app  # here, so --help and config errors need no torch

    return app(cfg)


if __name__ == "__main__":
    launch(main, "predict")
