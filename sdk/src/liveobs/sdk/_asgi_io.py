"""The few ASGI reading and answering steps the SDK's endpoints share: the one HTTP response writer.

Headers are read by :func:`liveobs.sdk._asgi.header` (re-exported here).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from liveobs.sdk._asgi import header

__all__ = ["ASGIApp", "BodyTooLarge", "Receive", "Scope", "Send", "header", "own_origin", "read_body", "send_json",
           "send_response"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def own_origin(scope: Scope) -> str | None:
    """``scheme://host[:port]`` of this request as the browser addressed it (from Host)."""
    host = header(scope, b"host")
    if not host:
        return None
    scheme = scope.get("scheme", "http")
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{scheme}://{host.lower()}"


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_length: int | None = None,
) -> None:
    """Send a complete HTTP response."""
    out = list(headers or [])
    if not any(k == b"content-type" for k, _ in out) and body:
        out.append((b"content-type", b"text/plain; charset=utf-8"))
    out.append((b"content-length", str(len(body) if content_length is None else content_length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a JSON response (``Cache-Control: no-store``)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    out = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *(headers or [])]
    await send_response(send, status, body, headers=out)


class BodyTooLarge(Exception):
    """The request body passed the limit before it ended."""

    def __init__(self, observed: int) -> None:
        super().__init__(f"body of at least {observed} bytes")
        self.observed = observed


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; :class:`BodyTooLarge` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
