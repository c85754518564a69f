"""Connections: a request (headers and body) must arrive within a deadline, at most `limit` at once,
and the protocol's own answers are the app's kind (JSON with the security headers).

uvicorn times out idle keep-alive connections, but not a new connection that sends nothing, a
header cut off mid-way or a body trickling in a byte at a time: each would hold a socket for as
long as the client likes. This protocol adds the deadline a proxy would (nginx's
client_header_timeout / client_body_timeout), counted from the connection or the previous answer.
uvicorn's own 503 (limit_concurrency) and 400 (a request h11 cannot parse) are plain text without
the headers every other answer has; here they are made like the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from mnist_lightning.serving.security import SECURITY_HEADERS, refuse

log = logging.getLogger(__name__)


def deadline_protocol(seconds: float, limit: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request is not in within `seconds`, and
    answering 503 past `limit` connections or requests at once (give uvicorn no limit_concurrency)."""

    class RequestDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            app = self.app

            async def limited(scope: dict, receive: Any, send: Any) -> None:
                if len(self.connections) > limit or len(self.tasks) > limit:
                    log.warning("Over %d connections or requests at once: answered 503", limit)
                    detail = f"busy: more than {limit} connections at once; retry in a second"
                    await refuse(send, 503, detail, ((b"retry-after", b"1"), (b"connection", b"close")))
                    return
                await app(scope, receive, send)

            self.app = limited

        def send_400_response(self, msg: str) -> None:
            body = json.dumps({"detail": f"not a valid HTTP request ({msg.rstrip('.').lower()})"}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *SECURITY_HEADERS,
            ]
            self.transport.write(
                self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request"))
            )
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
                self._disarm()  # the whole request is in: answering it may take as long as it needs

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this connection has the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            if not self.transport.is_closing():  # an app still reading the body sees a disconnect
                log.debug(
                    "Closed a connection from %s: its request did not arrive within %g s",
                    self.client,
                    seconds,
                )
                self.transport.close()

    return RequestDeadlineProtocol
