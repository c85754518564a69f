"""The serve program: load the model once, then answer the page and the API until Ctrl-C."""

from __future__ import annotations

import errno
import logging
import socket

import torch
from omegaconf import DictConfig

from mnist_lightning.console import quiet_console
from mnist_lightning.errors import ConfigError, required
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
    app = create_app(
        model, cfg.max_request_bytes, cfg.top_k, tuple(hosts), cfg.decode_slots, cfg.decode_timeout
    )
    app.state.decoders.start()  # before it listens: the first upload does not wait for a worker
    info = model.info
    log.info("Model: %s (%s weights, step %s)", info["file"], info["weights"], info["step"])
    if cfg.host not in LOOPBACK_HOSTS:
        log.warning(
            "Listening on %s: other machines on the network can reach this server; it answers requests "
            "addressed to %s (allowed_hosts=[...] to add the names clients use).",
            cfg.host,
            ", ".join(hosts),
        )
    config = uvicorn.Config(
        app,
        lifespan="off",  # no start-up/shut-down events; "on" logs a CancelledError traceback on Ctrl-C
        log_level="warning",
        access_log=False,
        http=deadline_protocol(cfg.request_timeout, cfg.max_connections),  # also the connection limit
    )
    sock = listening_socket(cfg.host, cfg.port)  # bound before "Serving on" is said, so it is true
    try:  # from the moment it says so, Ctrl-C is the documented way to stop it
        log.info("Serving on http://%s:%d (Ctrl-C to stop)", cfg.host, sock.getsockname()[1])
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on: stopping is the normal end
        pass
    finally:
        app.state.decoders.stop()
    log.info("Stopped serving")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on (host, port); one error line when the name does not resolve or the port is taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"host={host} does not resolve ({exc.strerror}); give a name or address of this machine, e.g. 127.0.0.1"
        ) from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        taken = exc.errno == errno.EADDRINUSE
        why = (
            "is in use (another server?); choose another port="
            if taken
            else f"cannot be opened ({exc.strerror})"
        )
        raise ConfigError(f"port={port} on host={host} {why}") from exc
    sock.set_inheritable(True)
    return sock


def app(cfg: DictConfig) -> None:
    """The serve program, as `src/serve.py` runs it: its console quiet, then `serve`."""
    quiet_console()
    return serve(cfg)
