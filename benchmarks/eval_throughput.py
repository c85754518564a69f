"""Inference throughput on the 10k test set: PyTorch (checkpoint), torch.export (.pt2), ONNX Runtime.

    python benchmarks/eval_throughput.py --run outputs/<run folder> --data-root ../shared/datasets/mnist

Exports the run's newest checkpoint to a temporary folder, then times each runtime over the
whole test set in batches (median of --repeats passes), checking they agree on every prediction.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
import torch

from mnist_lightning.data import load_dataset
from mnist_lightning.data.datamodule import to_features
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.persistence.checkpoints import resolve_checkpoint
from mnist_lightning.persistence.export import export_onnx, export_pt2
from mnist_lightning.persistence.restore import load_mlp


def images_per_second(predict, images: np.ndarray, batch: int, repeats: int) -> tuple[float, np.ndarray]:
    predict(images[:batch])  # warm-up
    times, logits = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        logits = np.concatenate([predict(images[i : i + batch]) for i in range(0, len(images), batch)])
        times.append(time.perf_counter() - start)
    return len(images) / statistics.median(times), logits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="run folder or checkpoint")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    images, labels = load_dataset("mnist", args.data_root, download_if_missing=False)["test"]
    x = to_features(images).numpy()
    path = resolve_checkpoint(args.run)
    net, _, weights = load_mlp(path)  # the moving average when the run kept one, else the raw weights
    with tempfile.TemporaryDirectory() as tmp:
        runtimes = {
            "PyTorch (checkpoint)": load_model(path).predict,
            "torch.export (.pt2)": load_model(export_pt2(net, Path(tmp) / "m.pt2")).predict,
            "ONNX Runtime (.onnx)": load_model(export_onnx(net, Path(tmp) / "m.onnx")).predict,
        }
        print(
            f"{path}  {weights} weights  test images={len(x)}  batch={args.batch}  torch threads={torch.get_num_threads()}"
        )
        reference = None
        for name, predict in runtimes.items():
            speed, logits = images_per_second(predict, x, args.batch, args.repeats)
            predicted = logits.argmax(1)
            reference = predicted if reference is None else reference
            accuracy = float((predicted == labels.numpy()).mean())
            agree = int((predicted == reference).sum())
            print(
                f"{name:22s} {speed:12,.0f} images/s   accuracy {accuracy:.4f}   agrees with PyTorch on {agree}/{len(x)}"
            )


if __name__ == "__main__":
    main()
