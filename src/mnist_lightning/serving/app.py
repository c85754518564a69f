"""The FastAPI app: the drawing page, `POST /api/predict` and `GET /api/health`.

Images go through the same preprocessing as `predict.py` (`inference.preprocess.mnist_input`), in
decode workers (serving/decoders.py); the model is loaded once, by the caller, and shared by every
request. JSON pixels go through the same no-digit rule.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from mnist_lightning.inference.classify import classify_rows
from mnist_lightning.inference.decode_budget import DECODE_BYTES, MAX_JPEG_PIXELS
from mnist_lightning.inference.predictors import LoadedModel
from mnist_lightning.inference.preprocess import NoDigit, why_no_digit
from mnist_lightning.serving.decoders import DecodePool
from mnist_lightning.serving.limits import BodySizeLimit
from mnist_lightning.serving.security import LOOPBACK_HOSTS, SameSiteGuard

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp", "application/octet-stream")
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "pixels": {
                            "type": "array",
                            "items": {"type": "number"},
                            "minItems": 784,
                            "maxItems": 784,
                        }
                    },
                    "description": "784 values in [0, 1]: a 28x28 MNIST-style image, row by row, white digit on black",
                }
            },
        },
    }
}


MAX_JSON_BYTES = 64_000  # 784 numbers need ~2-16 KB; larger JSON is refused before it is parsed


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower-cased (types are case-insensitive)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_json(body: bytes) -> Any:
    """A JSON body, or 400 with one line (bad syntax, nesting too deep, a number too large)."""
    try:
        return json.loads(body)
    except RecursionError as exc:
        raise HTTPException(400, "the JSON body is nested too deeply") from exc
    except ValueError as exc:  # also integers past Python's digit limit
        raise HTTPException(400, "the body is not valid JSON") from exc


async def read_capped(request: Request, limit: int) -> bytes:
    """The body if it is at most `limit` bytes, else 413. Bytes past the limit are read and dropped,
    not kept: a client that sends its whole body before reading the answer (urllib) gets the 413
    instead of a reset connection."""
    body, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            body += chunk
    if size > limit:
        raise HTTPException(
            413, f"JSON body too large: {size:,} bytes (the limit is {limit:,}); send 784 pixel values"
        )
    return bytes(body)


def pixels_row(payload: Any) -> np.ndarray:
    """A JSON body's 784 pixel values, as the model's input row (no preprocessing: already MNIST-style)."""
    pixels = payload.get("pixels") if isinstance(payload, dict) else payload
    if not isinstance(pixels, list) or len(pixels) != 784:
        found = f"{len(pixels)} values" if isinstance(pixels, list) else f"a JSON {_json_type(pixels)}"
        raise HTTPException(422, f"expected 'pixels': a list of 784 numbers (28x28), got {found}")
    if not all(type(value) in (int, float) for value in pixels):  # not bool, str, list, null
        raise HTTPException(422, "'pixels' must hold numbers only (no strings, booleans, lists or null)")
    try:
        row = np.array(pixels, dtype=np.float64)
    except OverflowError as exc:  # an integer with hundreds of digits
        raise HTTPException(422, "'pixels' values must be numbers in [0, 1]") from exc
    if not np.isfinite(row).all() or row.min() < 0 or row.max() > 1:
        raise HTTPException(422, "'pixels' values must be finite numbers in [0, 1]")
    return row.astype(np.float32)


def _json_type(value: Any) -> str:
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


async def read_image(request: Request) -> bytes:
    kind = media_type(request)
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "multipart body without a 'file' field holding the image")
        return await upload.read()
    if kind in IMAGE_TYPES or not kind:
        return await request.body()
    raise HTTPException(
        415, f"unsupported content type {kind!r}: send an image, a form with 'file', or JSON 'pixels'"
    )


def create_app(
    model: LoadedModel,
    max_request_bytes: int = 2_000_000,
    top_k: int = 3,
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
    decode_slots: int = 2,
    decode_timeout: float = 2.0,
) -> FastAPI:
    """The app around an already loaded model; bodies over `max_request_bytes` get 413, requests
    naming another Host 400, cross-site POSTs 403. `app.state.decoders` holds the decode workers
    (started at the first image, or by `serve` before it listens)."""
    app = FastAPI(
        title="MNIST MLP",
        description="Classify a handwritten digit: a PNG/JPEG image or 784 pixel values.",
        docs_url=None,  # Swagger UI loads its scripts from a CDN; the page must work offline
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    info = {**model.info, "file": Path(model.info["file"]).name}  # no server paths in answers
    decoders = app.state.decoders = DecodePool(decode_slots, decode_timeout)

    def answer(row: np.ndarray) -> dict[str, Any]:
        result = classify_rows(model.predict, row[None, :], top_k)[0]
        return {**result, "input": np.round(row.reshape(28, 28), 3).tolist(), "model": info}

    def no_digit(message: str) -> dict[str, Any]:
        return {
            "digit": None,
            "probability": None,
            "top": [],
            "message": message,
            "input": None,
            "model": info,
        }

    def classify_pixels(row: np.ndarray) -> dict[str, Any]:
        why = why_no_digit(row.reshape(28, 28))
        return no_digit(f"no digit: {why}") if why else answer(row)

    async def classify_image(data: bytes) -> dict[str, Any]:
        if not data:
            raise HTTPException(400, "empty body: send an image file (PNG or JPEG)")
        try:
            row = await decoders.input_row(data)
        except NoDigit as exc:
            return no_digit(str(exc))
        return await run_in_threadpool(answer, row)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """The loaded model: format, file, training step and weights (EMA or raw)."""
        return {
            "status": "ok",
            "model": info,
            "max_request_bytes": max_request_bytes,
            "max_jpeg_pixels": MAX_JPEG_PIXELS,  # the page downsizes a photo over the body limit within these
            "decode_bytes": DECODE_BYTES,
        }

    @app.post("/api/predict", openapi_extra=PREDICT_BODY)
    async def predict(request: Request) -> JSONResponse:
        """The top-k digits with probabilities, the 28x28 input the model saw, and the model's step/weights."""
        if media_type(request) == "application/json":
            payload = await run_in_threadpool(
                parse_json, await read_capped(request, MAX_JSON_BYTES)
            )  # off the loop
            return JSONResponse(await run_in_threadpool(classify_pixels, pixels_row(payload)))
        return JSONResponse(await classify_image(await read_image(request)))

    @app.exception_handler(ClientDisconnect)
    async def client_went_away(request: Request, exc: ClientDisconnect) -> Response:
        log.info(
            "A client at %s went away before its request was in",
            request.client.host if request.client else "?",
        )
        return Response(status_code=499)  # never sent: the connection is gone

    # The last added runs first: host and same-site checks (and security headers on every answer),
    # then the size limit, all before any body is read.
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)
    app.add_middleware(SameSiteGuard, allowed_hosts=allowed_hosts)
    return app
