"""Companion browser assets of ``liveobs.js``: package data served at fixed paths with SRI.

A companion (``liveobs-htmx.js``) is read and hashed once; :func:`companion_tag`
renders its ``<script>`` element (``integrity``, ``crossorigin``, an optional
CSP ``nonce``, ``defer`` so it runs after ``liveobs.js`` and before the page's
framework connects) and :func:`serve_companion` answers its path with an ETag
and long-lived immutable caching, as ``liveobs.js`` is served.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import liveobs.sdk

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
COMPANION_PREFIX: Final = "/_liveobs/"


@dataclass(frozen=True, slots=True)
class Companion:
    """One companion asset: its file name, bytes, SRI value and ETag."""

    name: str
    body: bytes
    integrity: str
    etag: str

    @property
    def path(self) -> str:
        return COMPANION_PREFIX + self.name

    @property
    def version(self) -> str:
        return self.etag.strip('"')[:12]


@cache
def companion(name: str) -> Companion:
    """The packaged companion ``static/<name>`` (read and hashed once per process)."""
    body = resources.files("liveobs.sdk").joinpath("static", name).read_bytes()
    return Companion(
        name=name,
        body=body,
        integrity="sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode("ascii"),
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


def companion_tag(name: str, *, nonce: str | None = None) -> str:
    """The ``<script>`` element that loads companion ``name`` with SRI, deferred like ``liveobs.js``."""
    asset = companion(name)
    attributes = {"src": f"{asset.path}?v={asset.version}", "integrity": asset.integrity,
                  "crossorigin": "anonymous", "nonce": nonce}
    rendered = " ".join(f'{key}="{html.escape(value, quote=True)}"' for key, value in attributes.items()
                        if value is not None)
    return f"<script {rendered} defer></script>"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


@dataclass(frozen=True, slots=True)
class CompanionRoute:
    """The route a companion's request matched, in the shape routers leave in ``scope["route"]``."""

    path: str


async def serve_companion(asset: Companion, scope: Scope, send: Send) -> None:
    """ASGI: answer ``GET``/``HEAD`` for ``asset``; 304 on a matching ``If-None-Match``."""
    scope["route"] = CompanionRoute(asset.path)  # the request's span is named by it, as any route's
    method = scope.get("method")
    headers: list[tuple[bytes, bytes]] = [
        (b"etag", asset.etag.encode()),
        (b"cache-control", b"public, max-age=31536000, immutable"),
        (b"x-content-type-options", b"nosniff"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if method not in ("GET", "HEAD"):
        status, body, headers = 405, b"method not allowed", [(b"allow", b"GET, HEAD")]
    elif asset.etag in _header(scope, b"if-none-match"):
        status, body = 304, b""
    else:
        status, body = 200, asset.body
        headers.append((b"content-type", b"text/javascript; charset=utf-8"))
    headers.append((b"content-length", str(len(body) if method != "HEAD" or status != 200 else len(asset.body))
                    .encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def flush_on_shutdown(send: Send) -> Send:
    """A lifespan ``send`` that flushes and stops liveobs once the app has shut down.

    The last events of a stopping server (a deploy, a test) then reach the collector.
    """

    async def send_then_flush(message: Message) -> None:
        await send(message)
        if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            liveobs.sdk.shutdown()

    return send_then_flush


async def handled_outside_the_socket(app: ASGIApp, asset: Companion, scope: Scope, receive: Receive,
                                     send: Send) -> bool:
    """Serve the companion asset, flush liveobs at lifespan shutdown, pass plain HTTP to ``app``.

    ``True`` when the message was handled here (anything but a WebSocket), so the adapter's
    own socket handling runs only for ``False``.
    """
    kind = scope.get("type")
    if kind == "http" and scope.get("path") == asset.path:
        await serve_companion(asset, scope, send)
        return True
    if kind == "lifespan":
        await app(scope, receive, flush_on_shutdown(send))
        return True
    if kind != "websocket":
        await app(scope, receive, send)
        return True
    return False
