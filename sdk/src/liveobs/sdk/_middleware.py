"""``LiveObsMiddleware``: the one pure ASGI middleware a live app adds.

It works under Starlette, FastAPI and any ASGI app: HTTP requests go to
:mod:`liveobs.sdk._http`, WebSocket connections to :mod:`liveobs.sdk._websocket`,
the health paths are answered directly, and ``lifespan.shutdown`` makes
readiness fail while the app drains.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from liveobs.conventions import DEFAULT_MAX_MESSAGE_BYTES, keys
from liveobs.sdk import _lifecycle
from liveobs.sdk._asgi import Message, Scope
from liveobs.sdk._build import Settings, build
from liveobs.sdk._configure import Telemetry, current_telemetry
from liveobs.sdk._faults import fault
from liveobs.sdk._health import Health
from liveobs.sdk._http import handle_http
from liveobs.sdk._reconnect import ReconnectTracker
from liveobs.sdk._session import SessionKeyFinder, SessionKeyRing
from liveobs.sdk._trust import TrustPolicy, TrustSetting
from liveobs.sdk._websocket import Connection

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_MAX_SESSION_KEY: Final = 4096


class LiveObsMiddleware:
    """Instrument an ASGI app: HTTP requests, WebSocket live events, health.

    ``session`` finds the app's raw session key in the scope (for example
    :func:`liveobs.sdk.cookie_session`); it is pseudonymised with
    ``session_keys`` (a random per-process key when omitted). ``trust_traceparent``
    is ``False``, ``True``, a ``(scope) -> bool`` callable or a list of client
    networks. ``route_id`` maps a scope to a route id (default: the route
    template). ``health`` serves ``/readyz`` and ``/live/readiness.json``.
    ``telemetry`` defaults to the one :func:`liveobs.sdk.configure` made.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        session: SessionKeyFinder | None = None,
        session_keys: SessionKeyRing | None = None,
        trust_traceparent: TrustSetting = False,
        route_id: Callable[[Mapping[str, Any]], str | None] | None = None,
        health: Health | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        server_timing: bool = True,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.app = app
        self._session = session
        self.session_keys = session_keys or SessionKeyRing.ephemeral()
        self.trust = TrustPolicy(trust_traceparent)
        self.route_id = route_id
        self.health = health
        self.health_paths = frozenset({keys.HEALTH_READYZ_PATH, keys.HEALTH_READINESS_PATH})
        self.max_message_bytes = max_message_bytes
        self.server_timing = server_timing
        self.reconnects = ReconnectTracker()
        self._telemetry = telemetry
        self._fallback: Telemetry | None = None

    def telemetry(self) -> Telemetry:
        if self._telemetry is not None:
            return self._telemetry
        configured = current_telemetry()
        if configured is not None:
            return configured
        if self._fallback is None:  # not configured: record nothing, break nothing
            self._fallback = build(Settings("unknown_service", batch=False))
        return self._fallback

    def _session_key(self, scope: Mapping[str, Any]) -> str | bytes | None:
        """The app's raw session key for the request (bounded), or ``None``; never leaves the process."""
        if self._session is None:
            return None
        try:
            raw = self._session(scope)
        except Exception:
            return None
        if not raw or len(raw) > _MAX_SESSION_KEY:
            return None
        return raw

    def session_id(self, scope: Mapping[str, Any]) -> str | None:
        """The pseudonymous session id of the request, or ``None``."""
        raw = self._session_key(scope)
        return self.session_keys.pseudonymise(raw) if raw is not None else None

    def owns_session(self, scope: Mapping[str, Any], pseudonym: str) -> bool:
        """Whether ``pseudonym`` is the request's own session under any key of the ring (current or earlier).

        A page rendered before a key rotation still carries the earlier pseudonym.
        """
        raw = self._session_key(scope)
        return raw is not None and self.session_keys.matches(pseudonym, raw)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await handle_http(self, scope, receive, send)
        elif kind == "websocket":
            try:
                connection = Connection(self, self.telemetry(), scope, receive, send)
            except Exception as exc:  # liveobs's own failure: the app runs uninstrumented
                fault("websocket connect", exc)
                await self.app(scope, receive, send)
                return
            await connection.run(self.app)
        elif kind == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), self._lifespan_send(send))
        else:
            await self.app(scope, receive, send)

    def _lifespan_receive(self, receive: Receive) -> Receive:
        health = self.health

        async def wrapped() -> Message:
            message = await receive()
            if message.get("type") == "lifespan.shutdown" and health is not None:
                health.drain()
            return message

        return wrapped

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.stopping()
            await send(message)

        return wrapped

    def stopping(self) -> None:
        """The server is shutting down: end the spans of sockets still open and export what is pending."""
        try:
            _lifecycle.end_open()
            telemetry = self._telemetry or current_telemetry()
            if telemetry is not None and not telemetry.closed:
                telemetry.force_flush(int(telemetry.shutdown_timeout * 1000))
        except Exception as exc:
            fault("lifespan shutdown", exc)
