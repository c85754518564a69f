"""The FastAPI app: the drawing page, `POST /api/predict` and `GET /api/health`.

Images go through the same preprocessing as `predict.py` (`inference.preprocess.mnist_input`);
the model is loaded once, by the caller, and shared by every request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from mnist_lightning.errors import DataError
from mnist_lightning.inference.classify import classify_rows
from mnist_lightning.inference.predictors import LoadedModel
from mnist_lightning.inference.preprocess import NoDigit, mnist_input
from mnist_lightning.serving.limits import BodySizeLimit

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
                    "properties": {"pixels": {"type": "array", "items": {"type": "number"}, "minItems": 784, "maxItems": 784}},
                    "description": "784 values in [0, 1]: a 28x28 MNIST-style image, row by row, white digit on black",
                }
            },
        },
    }
}


def _pixels_row(payload: Any) -> np.ndarray:
    """A JSON body's 784 pixel values, as the model's input row (no preprocessing: already MNIST-style)."""
    pixels = payload.get("pixels") if isinstance(payload, dict) else payload
    if not isinstance(pixels, list) or len(pixels) != 784:
        found = len(pixels) if isinstance(pixels, list) else type(pixels).__name__
        raise HTTPException(422, f"expected 'pixels': a list of 784 numbers (28x28), got {found}")
    try:
        row = np.asarray(pixels, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise HTTPException(422, "'pixels' must hold numbers only") from exc
    if not np.isfinite(row).all() or row.min() < 0 or row.max() > 1:
        raise HTTPException(422, "'pixels' values must be finite numbers in [0, 1]")
    return row


async def _image_bytes(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "multipart body without a 'file' field holding the image")
        return await upload.read()
    if content_type in IMAGE_TYPES or not content_type:
        return await request.body()
    raise HTTPException(415, f"unsupported content type {content_type!r}: send an image, a form with 'file', or JSON 'pixels'")


def create_app(model: LoadedModel, max_request_bytes: int = 2_000_000, top_k: int = 3) -> FastAPI:
    """The app around an already loaded model; bodies over `max_request_bytes` get 413."""
    app = FastAPI(
        title="MNIST MLP",
        description="Classify a handwritten digit: a PNG/JPEG image or 784 pixel values.",
        docs_url=None,  # Swagger UI loads its scripts from a CDN; the page must work offline
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def answer(row: np.ndarray) -> dict[str, Any]:
        result = classify_rows(model.predict, row[None, :], top_k)[0]
        return {**result, "input": np.round(row.reshape(28, 28), 3).tolist(), "model": model.info}

    def classify_image(data: bytes) -> dict[str, Any]:
        if not data:
            raise HTTPException(400, "empty body: send an image file (PNG or JPEG)")
        try:
            return answer(mnist_input(data, "the uploaded image"))
        except NoDigit as exc:
            return {"digit": None, "probability": None, "top": [], "message": str(exc), "input": None, "model": model.info}
        except DataError as exc:
            raise HTTPException(400, str(exc)) from exc

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """The loaded model: format, file, training step and weights (EMA or raw)."""
        return {"status": "ok", "model": model.info, "max_request_bytes": max_request_bytes}

    @app.post("/api/predict", openapi_extra=PREDICT_BODY)
    async def predict(request: Request) -> JSONResponse:
        """The top-k digits with probabilities, the 28x28 input the model saw, and the model's step/weights."""
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = await request.json()
            except ValueError as exc:
                raise HTTPException(400, "the body is not valid JSON") from exc
            return JSONResponse(await run_in_threadpool(answer, _pixels_row(payload)))
        data = await _image_bytes(request)
        return JSONResponse(await run_in_threadpool(classify_image, data))

    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)
    return app
