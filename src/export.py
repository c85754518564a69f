"""Export a checkpoint to .pt2/.onnx/.json files: `python src/export.py ckpt=<checkpoint|folder> [format=onnx]`.

`--help` lists the main keys with their defaults and examples; conf/export.yaml holds them all.
"""

from mnist_lightning.programs import export

if __name__ == "__main__":
    export()
