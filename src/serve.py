"""Serve a drawing page and a JSON API: `python src/serve.py ckpt=<checkpoint|folder|.pt2|.onnx> [port=8000]`.

`--help` lists the main keys with their defaults and examples; conf/serve.yaml holds them all.
"""

from mnist_lightning.programs import serve

if __name__ == "__main__":
    serve()
