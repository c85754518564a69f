"""Hostile and careless requests for the web API, generated here (no files, loopback only).

Used by `serve_load.py --hostile` (load beside a hostile mix) and by tests/serving/test_hostile.py
(each case's status and one-line detail, the server alive and its memory bounded afterwards).
"""

from __future__ import annotations

import io
import json
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field

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


def cases() -> list[Case]:
    """The hostile set: decoding bombs, corrupt and foreign files, malformed JSON, other sites."""
    pixels_784 = b'{"pixels": [' + b",".join([b"0"] * 784) + b"]}"
    return [
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
        Case("json-nested-deep", b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "nested too deeply"),
        Case("json-2mb-list", b"[" + b"0," * 999_000 + b"0]", "application/json", 413, "JSON body too large"),
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
