"""Classify image files: `python src/predict.py model=<ckpt|.pt2|.onnx> inputs=<files or folder>`."""

import logging
import sys

from omegaconf import OmegaConf

from mnist_lightning.cli import quiet_third_party_noise, run_reporting_errors
from mnist_lightning.hydra_setup import CONFIG_DIR
from mnist_lightning.inference.run import predict


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    quiet_third_party_noise()
    defaults = OmegaConf.load(f"{CONFIG_DIR}/predict.yaml")
    cfg = run_reporting_errors(lambda: OmegaConf.merge(defaults, OmegaConf.from_dotlist(sys.argv[1:])))
    run_reporting_errors(lambda: predict(cfg))


if __name__ == "__main__":
    main()
