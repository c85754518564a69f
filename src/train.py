"""Train the tutorial's MLP: `python src/train.py [group=option ...] [key=value ...]`; `-m` sweeps.

`--help` lists the main keys with their defaults and examples; conf/train.yaml holds them all.
"""

from mnist_lightning.programs import train

if __name__ == "__main__":
    train()
