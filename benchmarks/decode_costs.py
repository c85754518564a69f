"""Peak memory of decoding one image, by format and mode: the figures behind decode_budget.BYTES_PER_PIXEL.

    python benchmarks/decode_costs.py               # every format x mode at 2000x2000 (4 Mpx)
    python benchmarks/decode_costs.py --side 3000

Each image is decoded in a fresh process, after one warm-up decode (as the server's workers do), by
`mnist_input` (decode, reduce, flatten, fit); its peak RSS over the warmed-up RSS is printed beside
what `decode_budget.decode_bytes` counts for it from the header. A row measured over its count is marked.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mnist_lightning.inference.decode_budget import JPEG_FORMATS, decode_bytes, jpeg_frame

CASES = [
    ("PNG", "1"),
    ("PNG", "L"),
    ("PNG", "LA"),
    ("PNG", "P"),
    ("PNG", "I;16"),
    ("PNG", "RGB"),
    ("PNG", "RGBA"),
    ("GIF", "P"),
    ("BMP", "L"),
    ("BMP", "P"),
    ("BMP", "RGB"),
    ("BMP", "RGBA"),
    ("WEBP", "RGB"),
    ("WEBP", "RGBA"),
    ("JPEG", "L"),
    ("JPEG", "RGB"),
    ("JPEG", "CMYK"),
]
MEASURE = """
import io, sys
from mnist_lightning.errors import DataError
from mnist_lightning.inference.preprocess import NoDigit, mnist_input
from mnist_lightning.serving.decode_worker import _warm_up
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
_warm_up(mnist_input)
data = sys.stdin.buffer.read()
open("/proc/self/clear_refs", "w").write("5")
before = rss("VmRSS")
try:
    mnist_input(data)
except NoDigit:
    pass
except DataError as exc:
    sys.exit(str(exc))
print(rss("VmHWM") - before)
"""


def sample(image_format: str, mode: str, side: int, progressive: bool = False) -> bytes:
    """A digit-like image (a thick ring on a noisy background) in this format and mode."""
    y, x = np.mgrid[0:side, 0:side] / side
    ring = (np.abs(np.hypot(x - 0.5, y - 0.5) - 0.3) < 0.04) * 200
    grey = (30 + ring + np.random.default_rng(0).normal(0, 8, (side, side))).clip(0, 255).astype(np.uint8)
    base = Image.fromarray(grey)
    image = {"I;16": lambda: Image.fromarray(grey.astype(np.uint16) * 257)}.get(
        mode, lambda: base.convert(mode)
    )()
    options = {"WEBP": {"lossless": True}, "JPEG": {"quality": 90, "progressive": progressive}}.get(
        image_format, {}
    )
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def peak_bytes(data: bytes) -> int:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE],
        input=data,
        capture_output=True,
        check=False,
        env={"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    )
    if result.returncode:
        return -1  # refused by the budget (or failed): nothing decoded
    return int(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--side", type=int, default=2000)
    args = parser.parse_args()
    print("| format | mode | file bytes | peak over idle (measured) | counted by decode_budget |")
    print("|---|---|---|---|---|")
    for image_format, mode in CASES + [("JPEG", "RGB progressive")]:
        data = sample(image_format, mode.split()[0], args.side, mode.endswith("progressive"))
        image = Image.open(io.BytesIO(data))
        frame = jpeg_frame(data) if image.format in JPEG_FORMATS else None
        counted = decode_bytes(image.format, image.mode, image.width, image.height, frame)
        peak = peak_bytes(data)
        measured = (
            "refused"
            if peak < 0
            else f"{peak / 1e6:.1f} MB" + ("  **over the count**" if peak > counted else "")
        )
        print(f"| {image_format} | {mode} | {len(data):,} | {measured} | {counted / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
