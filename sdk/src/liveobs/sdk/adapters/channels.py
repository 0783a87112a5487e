"""liveobs for Django Channels: consumers handle each live event inside its own trace.

The liveobs middleware opens a live event when it reads a message carrying the
``lo`` envelope. Channels reads ``receive()`` in a task of its own and runs sync
consumers in threads, so without help the consumer's handler would see neither
the event's ids nor its span. :class:`LiveObsConsumer`, a consumer mixin, carries
the context the event was opened in (a :class:`contextvars.Context` snapshot taken
in the receiving task) to the handler's task, and from there asgiref carries it
into the sync consumer's thread: the handler's log lines are in the event's trace.
A handler that raises is recorded on the event, answered with an error reply and
closed with code 4500 (every ASGI server accepts it; daphne refuses 1011), and
counted once. The page's route comes from Django's URL resolver (``path("board/",
...)`` is ``/board/``), the connection's from the ``URLRouter`` pattern, and the
session from Django's session cookie (``scope["session"]``'s key).

An app adds::

    liveobs.sdk.configure("board", "1.0.0")                               # settings.py or asgi.py
    application = observe_channels_app(ProtocolTypeRouter({...}))         # asgi.py
    class Board(LiveObsConsumer, JsonWebsocketConsumer): ...              # the consumer
    "liveobs.sdk.adapters.channels.liveobs_head",                         # TEMPLATES context_processors
    {{ liveobs_head }}                                                    # the page's <head>

Needs Django Channels (``pip install "liveobs-sdk[channels]"``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import structlog
from channels.exceptions import StopConsumer  # type: ignore[import-untyped,import-not-found,unused-ignore]

import liveobs.sdk
from liveobs.conventions import keys, valid_route
from liveobs.sdk.adapters._close import AcceptedCloseCodes
from liveobs.sdk.adapters._companion import ASGIApp, Message, Receive, Scope, Send
from liveobs.sdk.adapters._session import warn_without_session

CLOSE_HANDLER_FAILED: Final = 4500
CONTEXT_KEY: Final = "liveobs.context"
_CONVERTER: Final = re.compile(r"<(?:\w+:)?(\w+)>")
_MISSING: Final = object()
_log = structlog.get_logger("liveobs.sdk.adapters.channels")


def route_id(pattern: str) -> str | None:
    """A Django or Channels URL pattern as a liveobs route id: ``board/<int:pk>/`` is ``/board/{pk}/``."""
    text = _CONVERTER.sub(r"{\1}", pattern.lstrip("^").rstrip("$"))
    return valid_route(text if text.startswith("/") else "/" + text)


def _enter(snapshot: object) -> list[contextvars.Token[Any]]:
    """Set in this context every variable the snapshot holds with another value; the tokens to undo it."""
    tokens: list[contextvars.Token[Any]] = []
    if isinstance(snapshot, contextvars.Context):
        for var, value in snapshot.items():
            if var.get(_MISSING) is not value:
                tokens.append(var.set(value))
    return tokens


def _leave(tokens: list[contextvars.Token[Any]]) -> None:
    for token in reversed(tokens):
        with contextlib.suppress(ValueError):  # a handler switched context under us: the value stays
            token.var.reset(token)


class LiveObsConsumer:
    """Consumer mixin (put it first): each message is handled in the context of the live event it carries.

    ``class Board(LiveObsConsumer, JsonWebsocketConsumer)`` or with
    ``AsyncJsonWebsocketConsumer``: every consumer of Channels reading
    ``websocket.receive`` messages works.
    """

    _liveobs_send: Send

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._liveobs_send = send
        _name_connection(scope)

        async def receive_in_context() -> Message:
            message = await receive()
            # This task is Channels' receiving task: the event the middleware opened is current here only.
            if liveobs.sdk.current_event() is not None and isinstance(message, dict):
                message = {**message, CONTEXT_KEY: contextvars.copy_context()}
            return message

        await super().__call__(scope, receive_in_context, send)  # type: ignore[misc]

    async def dispatch(self, message: Message) -> None:
        tokens = _enter(message.get(CONTEXT_KEY))
        try:
            await super().dispatch(message)  # type: ignore[misc]
        except StopConsumer:
            raise
        except Exception as exc:
            if not tokens or liveobs.sdk.current_event() is None:
                raise
            await self._liveobs_failed(exc)
            raise StopConsumer from None
        finally:
            _leave(tokens)

    async def _liveobs_failed(self, exc: Exception) -> None:
        """Record ``exc`` on the event, log it in the event's trace, answer with an error reply and close (4500)."""
        reply = liveobs.sdk.error_reply(exc)
        _log.error("live event failed", **{keys.ERROR_TYPE: reply[keys.ENVELOPE_KEY].get("error_class")},
                   exc_info=exc)
        await self._liveobs_send({"type": "websocket.send", "text": json.dumps(reply, separators=(",", ":"))})
        await self._liveobs_send({"type": "websocket.close", "code": CLOSE_HANDLER_FAILED})


def _name_connection(scope: Scope) -> None:
    """Put the route of the ``URLRouter`` pattern that matched on the connection's span."""
    route = scope.get("liveobs.route")
    if not isinstance(route, str):
        return
    span = _current_span()
    if span is not None:
        span.set_attribute(keys.ROUTE_ID, route)


def _current_span() -> Any:
    from opentelemetry import trace

    span = trace.get_current_span()
    return span if span.is_recording() else None


def _websocket_route(application: Any, path: str) -> str | None:
    """The pattern of the ``URLRouter`` route matching ``path`` inside ``application``'s websocket stack."""
    app = getattr(application, "application_mapping", {}).get("websocket", application)
    for _ in range(16):  # through AllowedHostsOriginValidator, AuthMiddlewareStack, SessionMiddlewareStack...
        routes = getattr(app, "routes", None)
        if routes is not None:
            remaining = path.lstrip("/")
            for route in routes:
                pattern = getattr(route, "pattern", None)
                if pattern is not None and pattern.match(remaining):
                    return route_id(str(pattern))
            return None
        inner = getattr(app, "inner", None) or getattr(app, "application", None) or getattr(app, "app", None)
        if inner is None:
            return None
        app = inner
    return None


def http_route(scope: Mapping[str, Any]) -> str | None:
    """The route of an HTTP request: the pattern of the Django URL it resolves to."""
    from django.urls import Resolver404, resolve  # type: ignore[import-untyped,import-not-found,unused-ignore]

    path = scope.get("path")
    if not isinstance(path, str):
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return route_id(match.route) if match.route else None


class ChannelsRoutes:
    """ASGI, inside the liveobs middleware: note the websocket's ``URLRouter`` route and answer ASGI lifespan.

    Django does not speak lifespan; this layer does, so uvicorn stops with liveobs flushed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind == "websocket":
            path = scope.get("path")
            route = _websocket_route(self.app, path) if isinstance(path, str) else None
            if route is not None:
                scope = {**scope, "liveobs.route": route}
        await self.app(scope, receive, send)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message.get("type") == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message.get("type") == "lifespan.shutdown":
            liveobs.sdk.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def observe_channels_app(application: ASGIApp, *, session_cookie: str | None = None, **options: Any) -> ASGIApp:
    """``application`` (the ``ProtocolTypeRouter``) observed: :func:`liveobs.sdk.observe_live_app` around it.

    The session is Django's session cookie (``SESSION_COOKIE_NAME`` unless
    ``session_cookie`` names another); HTTP spans are named by the Django URL
    pattern. ``options`` go to :func:`liveobs.sdk.observe_live_app`.
    """
    if session_cookie is None:
        from django.conf import settings  # type: ignore[import-untyped,import-not-found,unused-ignore]

        session_cookie = str(settings.SESSION_COOKIE_NAME)
    options.setdefault("session", liveobs.sdk.cookie_session(session_cookie))
    options.setdefault("route_id", http_route)
    return AcceptedCloseCodes(liveobs.sdk.observe_live_app(ChannelsRoutes(application), **options))


def liveobs_head(request: Any) -> dict[str, str]:
    """Django context processor: ``{{ liveobs_head }}``, the page's meta tags and ``liveobs.js``.

    It gives a first visit a Django session (liveobs.js reports only for a page
    with one) and renders the tags with the page's route.
    """
    from django.utils.safestring import mark_safe  # type: ignore[import-untyped,import-not-found,unused-ignore]

    session = getattr(request, "session", None)
    if session is not None:
        if session.session_key is None:
            session["liveobs"] = 1  # a non-empty session: Django sets its cookie on the response
            session.save()
        if not liveobs.sdk.current_ids().session_id and session.session_key:
            liveobs.sdk.start_session(session.session_key)
    match = getattr(request, "resolver_match", None)
    route = route_id(match.route) if match is not None and match.route else None
    with liveobs.sdk.bind_ids(route_id=route or liveobs.sdk.current_ids().route_id):
        warn_without_session()
        head = liveobs.sdk.head_tags() + liveobs.sdk.script_tag()
    return {"liveobs_head": mark_safe(head)}
