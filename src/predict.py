"""Classify image files: `python src/predict.py ckpt=<checkpoint|folder|.pt2|.onnx> inputs=<files|folder>`.

`--help` lists the main keys with their defaults and examples; conf/predict.yaml holds them all.
"""

from mnist_lightning.programs import predict

if __name__ == "__main__":
    predict()
