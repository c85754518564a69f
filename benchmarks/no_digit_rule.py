"""How often the no-digit rule refuses real digits, and the model's accuracy through the image path.

    python benchmarks/no_digit_rule.py --data-root ../shared/datasets/mnist
    python benchmarks/no_digit_rule.py --data-root ../shared/datasets/mnist --ckpt outputs/tutorial

Each of the 10,000 MNIST test digits goes through the rule twice: as a PNG file (decode, flatten,
fit: `mnist_input`) and as JSON pixels (`why_no_digit` on the 28x28 values). With --ckpt, the
model's accuracy on the PNG path (a refused digit counts as wrong) beside its accuracy on the raw
pixels.
"""

from __future__ import annotations

import argparse
import collections
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mnist_lightning.data import load_dataset
from mnist_lightning.inference.preprocess import NoDigit, mnist_input, why_no_digit


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--ckpt", help="a checkpoint or run folder: also the accuracy through the image path")
    args = parser.parse_args()
    images, labels = load_dataset("mnist", args.data_root, download_if_missing=False)["test"]
    images, labels = images.numpy(), labels.numpy()
    rows, reasons = [], collections.Counter()
    for image in images:
        try:
            rows.append(mnist_input(png(image)))
        except NoDigit as exc:
            reasons[str(exc)] += 1
            rows.append(None)
    json_refused = sum(why_no_digit(image / 255.0) is not None for image in images)
    n = len(images)
    print(f"refused as PNG files: {sum(reasons.values())} of {n} ({100 * sum(reasons.values()) / n:.2f}%)")
    for reason, count in reasons.most_common():
        print(f"  {count:5d}  {reason}")
    print(f"refused as JSON pixels: {json_refused} of {n} ({100 * json_refused / n:.2f}%)")
    if args.ckpt:
        import torch

        from mnist_lightning.persistence.restore import load_mlp

        net, _, weights = load_mlp(args.ckpt)
        kept = [i for i, row in enumerate(rows) if row is not None]
        with torch.no_grad():
            through_png = net(torch.from_numpy(np.stack([rows[i] for i in kept]))).argmax(1).numpy()
            raw = net(torch.from_numpy(images.reshape(n, 784) / 255.0).float()).argmax(1).numpy()
        right = (through_png == labels[kept]).sum()
        print(
            f"accuracy ({weights} weights): through the PNG path {right / n:.4f}, on the raw pixels {(raw == labels).mean():.4f}"
        )


if __name__ == "__main__":
    main()
