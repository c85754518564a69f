"""The serve program: load the model once, then answer the page and the API until Ctrl-C."""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig

from mnist_lightning.console import quiet_console
from mnist_lightning.errors import invalid_value, required
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.serving.app import create_app
from mnist_lightning.serving.connections import deadline_protocol
from mnist_lightning.serving.security import LOOPBACK_HOSTS

log = logging.getLogger(__name__)


def serve(cfg: DictConfig) -> None:
    import uvicorn

    required(cfg, "ckpt")
    if not isinstance(cfg.port, int) or not 0 <= cfg.port <= 65535:
        raise invalid_value("port", cfg.port, "an integer port in [0, 65535]")
    if not isinstance(cfg.max_request_bytes, int) or cfg.max_request_bytes <= 0:
        raise invalid_value("max_request_bytes", cfg.max_request_bytes, "an integer > 0")
    for key in ("torch_threads", "top_k", "max_connections", "decode_slots"):
        if not is_positive_int(cfg[key]):
            raise invalid_value(key, cfg[key], "an integer >= 1")
    if (
        isinstance(cfg.request_timeout, bool)
        or not isinstance(cfg.request_timeout, (int, float))
        or cfg.request_timeout <= 0
    ):
        raise invalid_value("request_timeout", cfg.request_timeout, "a number of seconds > 0")
    hosts = list(cfg.allowed_hosts or [])
    if not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise invalid_value(
            "allowed_hosts", cfg.allowed_hosts, "a list of host names, e.g. [127.0.0.1,localhost]"
        )
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


def is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def app(cfg: DictConfig) -> None:
    """The serve program, as `src/serve.py` runs it: its console quiet, then `serve`."""
    quiet_console()
    return serve(cfg)
