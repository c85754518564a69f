"""The serve program: load the model once, then answer the page and the API until Ctrl-C."""

from __future__ import annotations

import contextlib
import errno
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType

import torch
import uvicorn
from omegaconf import DictConfig

from mnist_lightning.console import quiet_console
from mnist_lightning.errors import ConfigError, required
from mnist_lightning.inference.predictors import load_model
from mnist_lightning.serving.app import create_app
from mnist_lightning.serving.connections import deadline_protocol
from mnist_lightning.serving.security import LOOPBACK_HOSTS

log = logging.getLogger(__name__)


def serve(cfg: DictConfig) -> None:
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
    server = uvicorn.Server(config)
    sock = listening_socket(cfg.host, cfg.port)  # bound before "Serving on" is said, so it is true
    try:
        with signals_stop(server):  # from the moment it says so, Ctrl-C is the way to stop it
            log.info("Serving on http://%s:%d (Ctrl-C to stop)", cfg.host, sock.getsockname()[1])
            server.run(sockets=[sock])
    finally:
        app.state.decoders.stop()
    log.info("Stopped serving")


@contextlib.contextmanager
def signals_stop(server: uvicorn.Server) -> Iterator[None]:
    """Ctrl-C and SIGTERM ask `server` to shut down from now on, also before uvicorn takes them over.

    Python's own Ctrl-C raises KeyboardInterrupt wherever the main thread is; landing in the event
    loop's set-up, it left a half-made loop and a traceback. Here a signal only sets `should_exit`,
    which uvicorn reads before it serves and every 0.1 s while it does; the signals it captured are
    handed back here when it ends, and ask a stopped server to stop: nothing is raised.
    """

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {sig: signal.signal(sig, ask_to_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
