"""What decoding an image will cost, counted from its header before the decoder runs.

The budget is per decode: at most DECODE_BYTES of memory above the decoding process's idle size,
and at most MAX_JPEG_SCANS passes over a JPEG's coefficients. An image whose count exceeds it is
refused with one line before any pixel is decoded; the server also ends a decode that outlives its
deadline (serving/decoders.py) for whatever the count cannot foresee.

- A baseline JPEG with one scan is decoded a row of blocks at a time and at 1/2..1/8 scale
  (draft mode): a few MB whatever its size, up to MAX_JPEG_PIXELS.
- A progressive JPEG (or a baseline one in several scans) keeps every component's DCT
  coefficients until its last scan: 2 bytes x 64 per 8x8 block, whatever the draft scale
  (a 12-Mpx 4:2:0 photo: 36 MB; a 7000x7000 CMYK one: 392 MB, refused).
- Other formats are decoded whole: width x height x the format's bytes per pixel at its peak
  (measured by `benchmarks/decode_costs.py`: the decoder's buffers, then the copies made here).
- Every decode also costs up to FIXED_BYTES for the reduced image's float copies.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

DECODE_BYTES = 100_000_000
MAX_JPEG_PIXELS = 50_000_000  # a 48-Mpx phone photo
MAX_JPEG_SCANS = 100  # encoders write 1 (baseline), 3-4 (per component) or ~10 (progressive)
JPEG_FORMATS = ("JPEG", "MPO")  # MPO (a phone's multi-picture file) is JPEG; only its first picture is read
FIXED_BYTES = 20_000_000  # any decode: the reduced image's float copies, the flattening, the fit
DRAFT_BYTES = 4 * 4 * 1_000_000  # a baseline JPEG at draft scale: <= 4x WORK_PIXELS, <= 4 channels
# Bytes per pixel of decoding a whole image, by format and Pillow mode: the decoder's buffers and the
# copies made here (the marginal figures of benchmarks/decode_costs.py, rounded up); a mode not
# listed counts 4 bytes per channel.
BYTES_PER_PIXEL = {
    "PNG": {"1": 2, "L": 2, "LA": 9, "P": 9, "PA": 10, "I": 7, "I;16": 7, "RGB": 5, "RGBA": 9},
    "GIF": {"L": 3, "P": 3},
    "BMP": {"1": 2, "L": 2, "P": 3, "RGB": 5, "RGBA": 9},
    "WEBP": {"RGB": 18, "RGBA": 18},
}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # the first marker after entropy-coded data


@dataclass(frozen=True)
class JpegFrame:
    """The first picture of a JPEG file, as its markers describe it."""

    width: int
    height: int
    progressive: bool
    sampling: tuple[tuple[int, int], ...]  # (horizontal, vertical) factor of each component
    scans: int
    scan_bytes: int  # entropy-coded data, all scans
    complete: bool  # an end-of-image marker after its last scan

    @property
    def coefficient_bytes(self) -> int:
        """Memory for the whole image's coefficients: what a progressive or multi-scan decode holds."""
        if not (self.progressive or self.scans > 1):
            return 0
        h_max = max(h for h, _ in self.sampling)
        v_max = max(v for _, v in self.sampling)
        rows, cols = math.ceil(self.height / (8 * v_max)), math.ceil(self.width / (8 * h_max))
        return sum(rows * v * cols * h * 128 for h, v in self.sampling)


def jpeg_frame(data: bytes) -> JpegFrame:
    """Walk the markers of the file's first picture (ValueError when they do not parse)."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start marker")
    pos, frame, scans, scan_bytes = 2, None, 0, 0
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            break
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > len(data):
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF and frame is None:
            frame = _frame_header(marker, data[pos + 4 : pos + 2 + length])
        pos += 2 + length
        if marker == 0xDA:
            if frame is None:
                raise ValueError("a scan before the frame header")
            scans += 1
            found = _AFTER_SCAN.search(data, pos)
            end = found.start() if found else len(data)
            scan_bytes, pos = scan_bytes + end - pos, end
    else:
        pos = len(data)
    if frame is None:
        raise ValueError("no frame header")
    width, height, progressive, sampling = frame
    complete = pos + 2 <= len(data) and data[pos + 1] == 0xD9
    return JpegFrame(width, height, progressive, sampling, scans, scan_bytes, complete)


def _frame_header(marker: int, body: bytes) -> tuple[int, int, bool, tuple[tuple[int, int], ...]]:
    if len(body) < 6:
        raise ValueError("a frame header cut short")
    height, width, count = struct.unpack(">HHB", body[1:6])
    components = body[6 : 6 + 3 * count]
    if count == 0 or len(components) < 3 * count:
        raise ValueError("a frame header without its components")
    sampling = tuple((byte >> 4, byte & 15) for byte in components[1::3])
    if any(h == 0 or v == 0 for h, v in sampling):
        raise ValueError("a sampling factor of 0")
    return width, height, marker in _PROGRESSIVE, sampling


def webp_size(data: bytes) -> tuple[int, int] | None:
    """A WebP's canvas size from its first chunk, or None if it is not a WebP. Read before Pillow
    opens it: its WebP decoder allocates the whole canvas when the file is opened."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def bytes_per_pixel(image_format: str, mode: str) -> int:
    """Peak bytes per pixel of decoding a whole image of this format and mode, then reading it here."""
    return BYTES_PER_PIXEL.get(image_format, {}).get(mode, 4 * max(1, len(mode)))


def decode_bytes(
    image_format: str, mode: str, width: int, height: int, frame: JpegFrame | None = None
) -> int:
    """Peak memory of decoding an image and preparing the model's input from it, counted
    (`frame`: a JPEG's, from `jpeg_frame`)."""
    if frame is not None:
        return FIXED_BYTES + DRAFT_BYTES + frame.coefficient_bytes
    return FIXED_BYTES + width * height * bytes_per_pixel(image_format, mode)


def over_budget(
    image_format: str, mode: str, width: int, height: int, frame: JpegFrame | None = None
) -> str | None:
    """Why decoding the image would exceed the budget, as the end of an error line; None when it fits
    (`frame`: a JPEG's, from `jpeg_frame`)."""
    if frame is not None:
        if width * height > MAX_JPEG_PIXELS:
            return f"{width}x{height} pixels is far too large for a digit (limit {MAX_JPEG_PIXELS:,} pixels for a JPEG)"
        if frame.scans > MAX_JPEG_SCANS:
            return f"the JPEG has {frame.scans:,} scans (limit {MAX_JPEG_SCANS}; a photo has at most ~20)"
        if (need := decode_bytes(image_format, mode, width, height, frame)) > DECODE_BYTES:
            return (
                f"a progressive {width}x{height} JPEG needs {need / 1e6:,.0f} MB to decode "
                f"(limit {DECODE_BYTES / 1e6:.0f} MB); save it as a baseline JPEG"
            )
        return None
    if decode_bytes(image_format, mode, width, height) > DECODE_BYTES:
        limit = (DECODE_BYTES - FIXED_BYTES) // bytes_per_pixel(image_format, mode)
        return (
            f"{width}x{height} pixels is far too large for a digit "
            f"(limit {limit:,} pixels for a {mode} {image_format})"
        )
    return None
