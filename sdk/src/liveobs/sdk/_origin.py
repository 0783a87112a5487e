"""WebSocket Origin and Host checks (cross-site WebSocket hijacking defence), with evidence.

:class:`WebSocketGuard` is ASGI middleware: each WebSocket handshake's
``Origin`` must be in the allow-list (or equal the request's own origin when
the list is empty) and its ``Host`` in the allowed hosts (when given). A
refused handshake is closed with 1008 before it is accepted, which ASGI
servers answer with HTTP 403; both outcomes are recorded as security evidence
on the current span (the middleware's connection span when it sits inside
:class:`~liveobs.sdk.LiveObsMiddleware`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from liveobs.sdk._asgi_io import ASGIApp, Receive, Scope, Send, header, own_origin
from liveobs.sdk._evidence import record_ws_host, record_ws_origin

CLOSE_POLICY_VIOLATION: Final = 1008


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class OriginPolicy:
    """Which Origins and Hosts a WebSocket handshake may carry."""

    def __init__(self, origins: Iterable[str] = (), hosts: Iterable[str] | None = None) -> None:
        self.origins = frozenset(_normal_origin(o) for o in origins)
        self.hosts = frozenset(h.strip().lower() for h in hosts) if hosts is not None else None

    def origin_ok(self, scope: Scope) -> bool:
        origin = header(scope, b"origin")
        if origin is None:
            return False
        allowed = self.origins or {own_origin(scope)}
        return _normal_origin(origin) in allowed

    def host_ok(self, scope: Scope) -> bool:
        if self.hosts is None:
            return True
        host = (header(scope, b"host") or "").strip().lower()
        if not host:
            return False
        bare = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return host in self.hosts or bare in self.hosts

    def check(self, scope: Scope) -> bool:
        """Check and record both; ``True`` when the handshake may proceed."""
        host, origin = header(scope, b"host"), header(scope, b"origin")
        host_ok = self.host_ok(scope)
        if self.hosts is not None:
            record_ws_host(host, host_ok, origin=origin or "")
        origin_ok = self.origin_ok(scope)
        record_ws_origin(origin, origin_ok, host=host or "")
        return host_ok and origin_ok


async def refuse_websocket(receive: Receive, send: Send) -> None:
    """Close a handshake before accepting it (the server answers HTTP 403)."""
    message = await receive()
    if message.get("type") == "websocket.connect":
        await send({"type": "websocket.close", "code": CLOSE_POLICY_VIOLATION})


class WebSocketGuard:
    """ASGI middleware: refuse WebSocket handshakes from foreign Origins or unexpected Hosts.

    ``origins`` are full origins (``https://app.example``); empty means "the
    request's own origin". ``hosts`` (``app.example`` or ``app.example:8443``)
    is checked when given.
    """

    def __init__(self, app: ASGIApp, *, origins: Iterable[str] = (), hosts: Iterable[str] | None = None) -> None:
        self.app = app
        self.policy = OriginPolicy(origins, hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "websocket" and not self.policy.check(scope):
            await refuse_websocket(receive, send)
            return
        await self.app(scope, receive, send)
