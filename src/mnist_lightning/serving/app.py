"""The FastAPI app: the drawing page, `POST /api/predict` and `GET /api/health`.

Images go through the same preprocessing as `predict.py` (`inference.preprocess.mnist_input`);
the model is loaded once, by the caller, and shared by every request.
"""

from __future__ import annotations

import asyncio
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

from mnist_lightning.errors import DataError
from mnist_lightning.inference.classify import classify_rows
from mnist_lightning.inference.predictors import LoadedModel
from mnist_lightning.inference.preprocess import NoDigit, mnist_input
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


class DecodeSlots:
    """At most `slots` images decode at once (each may take tens of MB for a moment); a request
    that waits longer than `wait_s` for a slot gets 503 with Retry-After."""

    def __init__(self, slots: int, wait_s: float = 5.0) -> None:
        self.semaphore, self.wait_s = asyncio.Semaphore(slots), wait_s

    async def run(self, work: Any, *args: Any) -> Any:
        try:
            await asyncio.wait_for(self.semaphore.acquire(), self.wait_s)
        except TimeoutError as exc:
            raise HTTPException(
                503, "busy: too many images are being read; retry in a second", headers={"Retry-After": "1"}
            ) from exc
        try:
            return await run_in_threadpool(work, *args)
        finally:
            self.semaphore.release()


def create_app(
    model: LoadedModel,
    max_request_bytes: int = 2_000_000,
    top_k: int = 3,
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
    decode_slots: int = 2,
) -> FastAPI:
    """The app around an already loaded model; bodies over `max_request_bytes` get 413, requests
    naming another Host 400, cross-site POSTs 403."""
    app = FastAPI(
        title="MNIST MLP",
        description="Classify a handwritten digit: a PNG/JPEG image or 784 pixel values.",
        docs_url=None,  # Swagger UI loads its scripts from a CDN; the page must work offline
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    info = {**model.info, "file": Path(model.info["file"]).name}  # no server paths in answers
    slots = DecodeSlots(decode_slots)

    def answer(row: np.ndarray) -> dict[str, Any]:
        result = classify_rows(model.predict, row[None, :], top_k)[0]
        return {**result, "input": np.round(row.reshape(28, 28), 3).tolist(), "model": info}

    def classify_image(data: bytes) -> dict[str, Any]:
        if not data:
            raise HTTPException(400, "empty body: send an image file (PNG or JPEG)")
        try:
            return answer(mnist_input(data, "the uploaded image"))
        except NoDigit as exc:
            return {
                "digit": None,
                "probability": None,
                "top": [],
                "message": str(exc),
                "input": None,
                "model": info,
            }
        except DataError as exc:
            raise HTTPException(400, str(exc)) from exc

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """The loaded model: format, file, training step and weights (EMA or raw)."""
        return {"status": "ok", "model": info, "max_request_bytes": max_request_bytes}

    @app.post("/api/predict", openapi_extra=PREDICT_BODY)
    async def predict(request: Request) -> JSONResponse:
        """The top-k digits with probabilities, the 28x28 input the model saw, and the model's step/weights."""
        if media_type(request) == "application/json":
            payload = await run_in_threadpool(
                parse_json, await read_capped(request, MAX_JSON_BYTES)
            )  # off the loop
            return JSONResponse(await run_in_threadpool(answer, pixels_row(payload)))
        data = await read_image(request)
        return JSONResponse(await slots.run(classify_image, data))

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
