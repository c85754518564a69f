"""Hostile and careless requests for the web API, generated here (no files, loopback only).

Used by `serve_load.py --hostile-cases` (each case's status, time and peak memory, before/after),
`serve_load.py --hostile` / `--bombs` (load beside a hostile mix or decoder bombs) and by
tests/serving/test_hostile.py (each case's status and one-line detail, the server alive and its
memory bounded afterwards).
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    content_type: str = "image/png"
    status: int = 400
    detail: str = ""  # a fragment the one-line detail must hold
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/api/predict"
    method: str = "POST"
    answer: str = ""  # for a 200: a fragment its JSON must hold, e.g. '"digit":null'


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height pixels with a tiny body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A 16x16 JPEG whose frame header is patched to declare width x height (libjpeg pads the rest)."""
    data = bytearray(encoded(Image.new("L", (16, 16), 128), "JPEG"))
    frame = data.find(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def mostly_ink(width: int, height: int, mode: str = "L") -> Image.Image:
    """Dark lines every 7 rows on white: compresses to little, decodes to width*height pixels."""
    array = np.full((height, width), 255, dtype=np.uint8)
    array[::7] = 0
    image = Image.fromarray(array)
    return image.convert(mode) if mode != "L" else image


def digit_photos():
    """benchmarks/digit_photos.py, the generated photos of handwritten digits."""
    spec = importlib.util.spec_from_file_location("digit_photos", Path(__file__).with_name("digit_photos.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def jpeg_scan_repeated(times: int, size: int = 2048) -> bytes:
    """A progressive JPEG whose first AC scan is repeated `times` times: each repeat is a few bytes
    that make the decoder pass over every block again."""
    data = encoded(Image.new("L", (size, size), 128), "JPEG", progressive=True)
    start = data.find(b"\xff\xda")
    while data[start + 5 + 2 * data[start + 4]] == 0:  # Ss = 0: a DC scan; the next is AC
        start = data.find(b"\xff\xda", start + 2)
    length = struct.unpack(">H", data[start + 2 : start + 4])[0]
    end = _AFTER_SCAN.search(data, start + 2 + length).start()
    eoi = data.rfind(b"\xff\xd9")
    return data[:eoi] + data[start:end] * times + data[eoi:]


def mpo(*frames: Image.Image) -> bytes:
    """A multi-picture JPEG (MPO), as phone cameras write: the frames one after the other."""
    return encoded(frames[0], "MPO", save_all=True, append_images=list(frames[1:]), quality=85)


def cut_in_first_picture(data: bytes) -> bytes:
    """A multi-picture file cut half-way through its first picture (the one that is decoded)."""
    return data[: data.find(b"\xff\xd9") // 2]


def decoder_bombs() -> list[Case]:
    """Small files whose decode, uncounted, takes seconds or hundreds of MB."""
    return [
        Case("jpeg-progressive-5000-scans", jpeg_scan_repeated(5000), "image/jpeg", 400, "scans"),
        Case(
            "jpeg-progressive-cmyk-49mpx",
            encoded(Image.new("CMYK", (7000, 7000)), "JPEG", progressive=True),
            "image/jpeg",
            400,
            "MB to decode",
        ),
        Case(
            "webp-lossless-4k",
            encoded(Image.new("RGB", (3840, 2160)), "WEBP", lossless=True),
            "image/webp",
            400,
            "far too large",
        ),
    ]


def no_digits() -> list[Case]:
    """Inputs that hold no digit: each must get the no-digit answer, not a confident guess."""
    rng = np.random.default_rng(0)
    dot = np.zeros((280, 280), dtype=np.uint8)
    dot[140, 140] = 255
    checkerboard = ((np.indices((280, 280)).sum(0) // 1 % 2) * 255).astype(np.uint8)
    no_digit = '"digit":null'
    return [
        Case(
            "noise-png",
            encoded(Image.fromarray(rng.integers(0, 256, (280, 280), dtype=np.uint8)), "PNG"),
            answer=no_digit,
            status=200,
        ),
        Case("single-dot-png", encoded(Image.fromarray(dot), "PNG"), answer=no_digit, status=200),
        Case("checkerboard-png", encoded(Image.fromarray(checkerboard), "PNG"), answer=no_digit, status=200),
        Case(
            "json-784-zeros",
            b'{"pixels": [' + b",".join([b"0"] * 784) + b"]}",
            "application/json",
            200,
            answer=no_digit,
        ),
    ]


def photos() -> list[Case]:
    """Honest photos, and phone files in MPO form (the first picture is the photo)."""
    photo = digit_photos().photo(3, "lamp")
    picture = Image.open(io.BytesIO(photo))
    return [
        Case("photo-of-a-3-8mpx", photo, "image/jpeg", 200, answer='"digit":3'),
        Case(
            "mpo-photo-of-a-3-8mpx",
            mpo(picture, picture.resize((640, 480))),
            "image/jpeg",
            200,
            answer='"digit":3',
        ),
        Case(
            "mpo-cut-short",
            cut_in_first_picture(mpo(picture.resize((800, 600)), picture.resize((320, 240)))),
            "image/jpeg",
            400,
            "cut short",
        ),
    ]


def cases() -> list[Case]:
    """The hostile set: decoding bombs, corrupt and foreign files, malformed JSON, other sites,
    inputs with no digit, honest photos."""
    pixels_784 = b'{"pixels": [' + b",".join([b"0"] * 784) + b"]}"
    return (
        decoder_bombs()
        + no_digits()
        + photos()
        + [
            Case(
                "jpeg-declares-49mpx-truncated",
                jpeg_declaring(7000, 7000),
                "image/jpeg",
                400,
                "cut short or corrupt",
            ),
            Case("png-declares-144mpx", png_declaring(12000, 12000), "image/png", 400, "far too large"),
            Case(
                "webp-49mpx",
                encoded(mostly_ink(7000, 7000), "WEBP", lossless=True, method=0),
                "image/webp",
                400,
                "far too large",
            ),
            Case(
                "png-ink-49mpx",
                encoded(mostly_ink(7000, 7000), "PNG", compress_level=9),
                "image/png",
                400,
                "far too large",
            ),
            Case("png-palette-4k", encoded(mostly_ink(3840, 2160, "P"), "PNG"), "image/png", 200),
            Case("png-ink-4k-rgba", encoded(mostly_ink(3840, 2160, "RGBA"), "PNG"), "image/png", 200),
            Case(
                "tiff",
                encoded(mostly_ink(64, 64), "TIFF"),
                "image/png",
                400,
                "not a PNG, JPEG, GIF, BMP or WebP image",
            ),
            Case(
                "eps",
                b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
                "application/octet-stream",
                400,
                "not a PNG, JPEG, GIF, BMP or WebP image",
            ),
            Case(
                "png-cut-short",
                encoded(mostly_ink(300, 300), "PNG")[:400],
                "image/png",
                400,
                "cut short or corrupt",
            ),
            Case(
                "pixels-784x2",
                json.dumps({"pixels": [[0, 1]] * 784}).encode(),
                "application/json",
                422,
                "numbers only",
            ),
            Case(
                "json-nested-deep",
                b"[" * 30_000 + b"]" * 30_000,
                "application/json",
                400,
                "nested too deeply",
            ),
            Case(
                "json-2mb-list",
                b"[" + b"0," * 999_000 + b"0]",
                "application/json",
                413,
                "JSON body too large",
            ),
            Case(
                "json-401-digit-int",
                b'{"pixels": [' + b",".join([b"9" * 401] + [b"0"] * 783) + b"]}",
                "application/json",
                422,
                "in [0, 1]",
            ),
            Case(
                "json-strings",
                json.dumps({"pixels": ["0.5"] * 784}).encode(),
                "application/json",
                422,
                "numbers only",
            ),
            Case(
                "json-booleans",
                json.dumps({"pixels": [True] * 784}).encode(),
                "application/json",
                422,
                "numbers only",
            ),
            Case("content-type-jsonx", pixels_784, "application/jsonx", 415, "unsupported content type"),
            Case("content-type-upper-case", pixels_784, "Application/JSON", 200),
            Case("invalid-http-request", b"", "", 400, "not a valid HTTP request", method="G(ET"),
            Case(
                "host-rebinding",
                b"",
                "",
                400,
                "unknown Host",
                {"Host": "rebind.attacker.example"},
                "/api/health",
                "GET",
            ),
            Case(
                "static-redirect-to-other-host",
                b"",
                "",
                400,
                "unknown Host",
                {"Host": "evil.example"},
                "/static",
                "GET",
            ),
            Case(
                "cross-site-post",
                encoded(mostly_ink(28, 28), "PNG"),
                "image/png",
                403,
                "cross-site",
                {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
            ),
        ]
    )


def request(host: str, port: int, case: Case, timeout: float = 60.0) -> tuple[int, dict, bytes]:
    """Send one case over a fresh connection, as a client that waits for the answer; (status, headers, body)."""
    headers = {
        "Host": f"{host}:{port}",
        "Content-Length": str(len(case.body)),
        "Connection": "close",
        **case.headers,
    }
    if case.content_type:
        headers["Content-Type"] = case.content_type
    head = (
        f"{case.method} {case.path} HTTP/1.1\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        try:
            sock.sendall(case.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early (413) and closed: the answer is still there to read
        answer = b""
        while chunk := _recv(sock):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    raw_headers, _, body = rest.partition(b"\r\n\r\n")
    parsed = dict(
        line.decode("latin-1").lower().split(": ", 1) for line in raw_headers.split(b"\r\n") if b": " in line
    )
    return int(status_line.split()[1]), parsed, body


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def held_open_seconds(
    host: str, port: int, first: bytes, trickle: bytes = b"", every: float = 0.5, give_up: float = 60.0
) -> float:
    """Send `first`, then `trickle` a byte every `every` s; seconds until the server closes the connection."""
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=give_up) as sock:
        sock.sendall(first)
        sock.settimeout(every)
        sent = 0
        while time.monotonic() - started < give_up:
            try:
                if sock.recv(65536) == b"":
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:
                break
            if sent < len(trickle):
                try:
                    sock.sendall(trickle[sent : sent + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 1
    return time.monotonic() - started


def slow_clients(host: str, port: int) -> dict[str, bytes | tuple[bytes, bytes]]:
    """Clients that never finish their request: what each sends first (and then trickles)."""
    start = f"POST /api/predict HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: image/png\r\n".encode()
    return {
        "idle-connection": b"",
        "partial-headers": start,
        "body-short-of-length": start + b"Content-Length: 1000\r\n\r\n" + b"x" * 10,
        "body-1-byte-per-0.5s": (start + b"Content-Length: 1000\r\n\r\n", b"x" * 1000),
    }
