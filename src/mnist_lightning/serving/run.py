"""The serve program: load the model once, then answer the page and the API until Ctrl-C."""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig

from mnist_lightning.errors import required
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.serving.app import create_app
from mnist_lightning.serving.connections import deadline_protocol
from mnist_lightning.serving.security import LOOPBACK_HOSTS

log = logging.getLogger(__name__)


def serve(cfg: DictConfig) -> None:
    import uvicorn

    required(cfg, "ckpt")
    hosts = list(cfg.allowed_hosts)  # types and ranges: schema.py, checked before this runs
    threads = cfg.torch_threads
    # One image per request: one thread each is fastest, and concurrent requests use the other cores.
    torch.set_num_threads(threads)
    model = load_model(cfg.ckpt, cfg.weights, threads=threads)
    app = create_app(model, cfg.max_request_bytes, cfg.top_k, tuple(hosts), cfg.decode_slots)
    info = model.info
    log.info("Model: %s (%s weights, step %s)", info["file"], info["weights"], info["step"])
    if cfg.host not in LOOPBACK_HOSTS:
        log.warning(
            "Listening on %s: other machines on the network can reach this server; it answers requests "
            "addressed to %s (allowed_hosts=[...] to add the names clients use).",
            cfg.host,
            ", ".join(hosts),
        )
    log.info("Serving on http://%s:%d (Ctrl-C to stop)", cfg.host, cfg.port)
    uvicorn.run(
        app,
        host=cfg.host,
        port=cfg.port,
        log_level="warning",
        access_log=False,
        http=deadline_protocol(cfg.request_timeout),
        limit_concurrency=cfg.max_connections,
    )
