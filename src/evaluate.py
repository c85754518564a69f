"""Evaluate a checkpoint, or watch a run's checkpoints: `python src/evaluate.py ckpt=<checkpoint|folder> [split=test]`.

`--help` lists the main keys with their defaults and examples; conf/evaluate.yaml holds them all.
"""

from mnist_lightning.programs import evaluate

if __name__ == "__main__":
    evaluate()
