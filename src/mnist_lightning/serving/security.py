"""Who may talk to the server, and what browsers may do with its answers.

- Host allow-list: a page on another site that rebinds its DNS name to 127.0.0.1 sends its own
  name as Host and is refused (400), so it cannot read the API.
- Cross-site requests that change something (POST) are refused: browsers say where a request
  comes from (`Sec-Fetch-Site`, `Origin`); tools such as curl send neither and are served.
- Every answer carries headers that stop sniffing, framing and caching of API answers, and a
  Content-Security-Policy matching the page (its own script and style files, no inline code).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"no-referrer"),
]


async def refuse(send: Any, status: int, detail: str, headers: tuple = ()) -> None:
    """A JSON {"detail": ...} answer with the security headers, as every answer of this server has."""
    body = json.dumps({"detail": detail}).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port ("[::1]:8000" -> "[::1]")."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_cross_site(method: str, headers: dict[bytes, bytes]) -> bool:
    """Whether a browser says this request, which is not a plain read, comes from another site."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return True
    origin = headers.get(b"origin", b"").decode("latin-1")
    if origin and origin != "null":
        return urlsplit(origin).netloc.lower() != headers.get(b"host", b"").decode("latin-1").lower()
    return origin == "null"  # sandboxed frames and file:// pages


class SameSiteGuard:
    """400 for a Host not allowed, 403 for cross-site POSTs; security headers on every answer;
    `Cache-Control: no-store` on the API's."""

    def __init__(self, app: Any, allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS) -> None:
        self.app, self.allowed_hosts = app, {host.lower() for host in allowed_hosts}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = host_name(headers.get(b"host", b"").decode("latin-1"))
        if host not in self.allowed_hosts:
            await refuse(
                send,
                400,
                f"unknown Host {host[:100]!r}: this server answers {', '.join(sorted(self.allowed_hosts))} "
                "(serve.py allowed_hosts=[...] adds names)",
            )
            return
        if is_cross_site(scope["method"], headers):
            await refuse(
                send, 403, "cross-site request refused: use the page served here, or a tool such as curl"
            )
            return
        extra = SECURITY_HEADERS + [(b"cache-control", b"no-store")] * scope["path"].startswith("/api/")

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
