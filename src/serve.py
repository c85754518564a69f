"""Serve a drawing page and a JSON API: `python src/serve.py ckpt=<checkpoint|folder|.pt2|.onnx> [port=8000]`.

`--help` lists the main keys with their defaults and examples; conf/serve.yaml holds them all.
"""

import hydra
from omegaconf import DictConfig

from mnist_lightning.programs import CONFIG_DIR, job, launch


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="serve")
@job  # missing keys and pre-checks, then a user error is one line (exit 2), in every job of a sweep
def main(cfg: DictConfig) -> None:
    """Serve the page and the JSON API until Ctrl-C."""
    from mnist_lightning.serving.run import app  # here, so --help and config errors need no torch

    return app(cfg)


if __name__ == "__main__":
    launch(main, "serve")
