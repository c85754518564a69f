"""Photos of handwritten digits, generated: each digit 0-9 stroked with a pen on paper at phone-photo
size, under uneven light (a gradient, a vignette, a soft shadow), with paper texture and sensor noise.

    python benchmarks/digit_photos.py --out /tmp/photos          # writes digit<d>_<light>.jpg
    python benchmarks/digit_photos.py --ckpt outputs/tutorial    # how many a model reads (predict's path)
    python benchmarks/digit_photos.py --url http://127.0.0.1:8000 # ... through a running server's API
    python benchmarks/digit_photos.py --ckpt outputs/tutorial    # how many a model reads (predict's path)
    python benchmarks/digit_photos.py --url http://127.0.0.1:8000 # ... through a running server's API

Used by tests/serving (through the API and the page) and by `hostile_requests.py` (an honest photo
beside the bombs). Deterministic: the same files for the same arguments.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = (3264, 2448)  # an 8-Mpx phone photo, landscape
LIGHTS = ("window", "lamp")


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> list:
    """Points on an ellipse from angle `start` to `end` (degrees, 0 = right, 90 = down)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(start, end, n)
    ]


# Pen strokes of each digit, in a unit box (x right, y down), as a hand writes them.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.3, 0.45, -90, 275, 40)],
    1: [[(0.42, 0.15), (0.55, 0.05), (0.52, 0.95)]],
    2: [_arc(0.5, 0.3, 0.3, 0.25, 200, 370) + [(0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.5, 0.28, 0.28, 0.23, 200, 450) + _arc(0.5, 0.72, 0.32, 0.23, 270, 520)],
    4: [[(0.6, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.65, 0.3), (0.65, 0.97)]],
    5: [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45)] + _arc(0.5, 0.68, 0.32, 0.27, 240, 500)],
    6: [[(0.7, 0.05), (0.35, 0.4)] + _arc(0.5, 0.7, 0.28, 0.26, 190, 550)],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.4, 0.97)]],
    8: [_arc(0.5, 0.27, 0.24, 0.22, 90, 450) + _arc(0.5, 0.72, 0.3, 0.25, -90, 270)],
    9: [_arc(0.5, 0.3, 0.28, 0.24, 0, 360) + [(0.78, 0.3), (0.7, 0.97)]],
}


def _light(kind: str, rng: np.random.Generator) -> np.ndarray:
    """How bright the paper is at each pixel (0-1): uneven, as under a window or a desk lamp."""
    width, height = SIZE
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x, y = x / width, y / height
    if kind == "window":  # brighter on one side, falling off across the page
        light = 0.95 - 0.45 * x + 0.1 * y
    else:  # a lamp: a bright spot off-centre, a dark vignette around it
        light = 0.98 - 0.7 * ((x - 0.3) ** 2 + (y - 0.25) ** 2)
    shadow = 1 / (1 + np.exp(-(x + 0.6 * y - 1.25) * 40))  # a soft-edged shadow over one corner
    texture = np.asarray(
        Image.fromarray(rng.normal(0, 1, (height // 64, width // 64)).astype(np.float32), "F").resize(
            SIZE, Image.BICUBIC
        )
    )
    return (light * (1 - 0.35 * shadow) * (1 + 0.02 * texture)).clip(0.1, 1)


def photo(digit: int, light: str = "window", seed: int = 0) -> bytes:
    """A JPEG of `digit` written in ink on paper, at phone-photo size (about 1-2 MB)."""
    rng = np.random.default_rng([digit, LIGHTS.index(light), seed])
    width, height = SIZE
    ink = Image.new("L", SIZE, 0)
    draw = ImageDraw.Draw(ink)
    box = height * rng.uniform(0.45, 0.6)  # the digit's height on the page
    left = width * rng.uniform(0.3, 0.5) - box / 2
    top = height * rng.uniform(0.4, 0.6) - box / 2
    pen = max(4, round(box * rng.uniform(0.05, 0.08)))
    slant = rng.uniform(-0.12, 0.12)
    for stroke in STROKES[digit]:
        points = [
            (left + box * (0.15 + 0.7 * (px + slant * (0.5 - py))), top + box * py) for px, py in stroke
        ]
        draw.line(points, fill=255, width=pen, joint="curve")
        for end in (points[0], points[-1]):
            draw.ellipse([end[0] - pen / 2, end[1] - pen / 2, end[0] + pen / 2, end[1] + pen / 2], fill=255)
    darkness = np.asarray(ink, dtype=np.float32) / 255 * 0.75  # ink absorbs ~75% of the light
    paper = _light(light, rng) * (1 - darkness)
    rgb = paper[..., None] * np.array([0.98, 0.96, 0.9], dtype=np.float32) * 255  # warm white paper
    rgb += rng.normal(0, 3.5, rgb.shape).astype(np.float32)  # sensor noise
    buffer = io.BytesIO()
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=82)
    return buffer.getvalue()


def corpus() -> list[tuple[int, str, bytes]]:
    """(digit, light, JPEG bytes): each digit under each light, 20 photos."""
    return [(digit, light, photo(digit, light)) for digit in range(10) for light in LIGHTS]


def read_by_model(ckpt: str) -> list[int | None]:
    """The digit a checkpoint reads in each photo, through predict's preprocessing (None: no digit)."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from mnist_lightning.inference.preprocess import NoDigit, mnist_input
    from mnist_lightning.persistence.restore import load_mlp

    net, _, _ = load_mlp(ckpt)
    digits: list[int | None] = []
    for _, _, data in corpus():
        try:
            row = torch.from_numpy(mnist_input(data)[None])
        except NoDigit:
            digits.append(None)
            continue
        with torch.no_grad():
            digits.append(int(net(row).argmax()))
    return digits


def read_by_server(url: str) -> list[int | None]:
    """The digit a running server answers for each photo, posted as a JPEG."""
    import json
    import urllib.request

    digits = []
    for _, _, data in corpus():
        request = urllib.request.Request(
            f"{url}/api/predict", data=data, headers={"content-type": "image/jpeg"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            digits.append(json.loads(response.read())["digit"])
    return digits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", type=Path, help="write the photos into this folder")
    what.add_argument("--ckpt", help="a checkpoint or run folder: how many photos it reads right")
    what.add_argument("--url", help="a running server (loopback): how many its API reads right")
    args = parser.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for digit, light, data in corpus():
            (args.out / f"digit{digit}_{light}.jpg").write_bytes(data)
            print(f"digit{digit}_{light}.jpg: {len(data):,} bytes")
        return
    read = read_by_model(args.ckpt) if args.ckpt else read_by_server(args.url)
    truth = [digit for digit, _, _ in corpus()]
    print(" ".join(f"{t}->{'-' if r is None else r}" for t, r in zip(truth, read)))
    print(f"{sum(t == r for t, r in zip(truth, read))} of {len(truth)} read right")


if __name__ == "__main__":
    main()
