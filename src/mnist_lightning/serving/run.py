"""The serve program: load the model once, then answer the page and the API until Ctrl-C."""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig

from mnist_lightning.errors import invalid_value, required
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.serving.app import create_app

log = logging.getLogger(__name__)


def serve(cfg: DictConfig) -> None:
    import uvicorn

    required(cfg, "ckpt", "a checkpoint file, a checkpoints/ or run folder, or an exported .onnx/.pt2")
    if not isinstance(cfg.port, int) or not 0 <= cfg.port <= 65535:
        raise invalid_value("port", cfg.port, "an integer port in [0, 65535]")
    if not isinstance(cfg.max_request_bytes, int) or cfg.max_request_bytes <= 0:
        raise invalid_value("max_request_bytes", cfg.max_request_bytes, "an integer > 0")
    threads = cfg.torch_threads
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise invalid_value("torch_threads", threads, "an integer >= 1")
    if not isinstance(cfg.top_k, int) or isinstance(cfg.top_k, bool) or cfg.top_k < 1:
        raise invalid_value("top_k", cfg.top_k, "an integer >= 1")
    # One image per request: one thread each is fastest, and concurrent requests use the other cores.
    torch.set_num_threads(threads)
    model = load_model(cfg.ckpt, cfg.weights, threads=threads)
    app = create_app(model, cfg.max_request_bytes, cfg.top_k)
    info = model.info
    log.info("Model: %s (%s weights, step %s)", info["file"], info["weights"], info["step"])
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Listening on %s: other machines on the network can reach this server.", cfg.host)
    log.info("Serving on http://%s:%d (Ctrl-C to stop)", cfg.host, cfg.port)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)


app = serve  # the program as mnist_lightning.apps runs it
