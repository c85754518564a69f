"""Serve the model: `python src/serve.py ckpt=<checkpoint, run folder, .onnx or .pt2> [port=8000]`.

Open the printed URL to draw a digit; the JSON API is `POST /api/predict`, `GET /api/health`.
"""

import hydra
from omegaconf import DictConfig

from mnist_lightning.cli import quiet_third_party_noise, run_hydra_app, run_reporting_errors
from mnist_lightning.hydra_setup import CONFIG_DIR, setup_hydra
from mnist_lightning.serving.run import serve


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="serve")
def main(cfg: DictConfig) -> None:
    quiet_third_party_noise()
    run_reporting_errors(lambda: serve(cfg))


if __name__ == "__main__":
    setup_hydra()
    run_hydra_app(main)
