"""liveobs for socket.io (python-socketio 5.x and the socket.io JavaScript client).

socket.io wraps every message in its own packets (``42["add_card",{...}]``) and
answers with acknowledgements (``43<id>[...]``); the liveobs middleware sees one
long connection. Two halves make each emit a live event with its own trace:

* in the browser, ``liveobs-socketio.js`` (a companion of ``liveobs.js``, served
  with SRI) gives ``liveobs.io(url, options)``, the socket.io client's ``io()``
  that names the connection (``lo_cid``, so browser reports carry the server's
  connection id), adds the ``lo`` envelope to each emit's first argument and asks
  for an acknowledgement, which it reads as the reply;
* on the server, :func:`observe_socketio` wraps the ``AsyncServer``'s event
  handlers: each runs inside :func:`liveobs.sdk.live_event` with the browser's
  event id (its log lines are in the event's trace), and its acknowledgement
  carries the reply's ``lo`` object. A handler that raises is recorded on the
  event, logged once in its trace and acknowledged with an error reply: the socket
  stays up and the page gets the reference.

An app adds::

    liveobs.sdk.configure("board", "1.0.0")
    observe_socketio(sio)                                 # after its handlers are registered
    app = observe_socketio_app(socketio.ASGIApp(sio))     # outermost ASGI wrapper
    ... f"<head>{socketio_head_tags()}</head>" ...        # after socket.io.js; io(...) becomes liveobs.io(...)

Needs python-socketio (``pip install "liveobs-sdk[socketio]"``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Final

import structlog

import liveobs.sdk
from liveobs.conventions import keys, parse_envelope
from liveobs.sdk.adapters._close import AcceptedCloseCodes
from liveobs.sdk.adapters._companion import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    companion,
    companion_tag,
    handled_outside_the_socket,
)
from liveobs.sdk.adapters._session import SESSION_COOKIE, SessionCookie, warn_without_session

COMPANION: Final = "liveobs-socketio.js"
RESERVED: Final = frozenset({"connect", "disconnect", "connect_error", "*"})
_WRAPPED: Final = "__liveobs_wrapped__"
_log = structlog.get_logger("liveobs.sdk.adapters.socketio")


def _envelope(args: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The first dict argument after the sid and its ``lo`` object, when the browser sent one."""
    for arg in args[1:2]:
        if isinstance(arg, dict) and isinstance(arg.get(keys.ENVELOPE_KEY), dict):
            return arg, arg[keys.ENVELOPE_KEY]
    return None


def _with_reply(result: Any, lo: dict[str, Any]) -> Any:
    """The handler's acknowledgement with the reply's ``lo`` object (a dict gains the key; nothing becomes one)."""
    if result is None:
        return {keys.ENVELOPE_KEY: lo}
    if isinstance(result, dict):
        return {**result, keys.ENVELOPE_KEY: lo}
    return result  # other acknowledgements go out as the handler made them: the browser then times out


class _Event:
    """One handler call as a live event (its manager entered and left in the handler's own task)."""

    def __init__(self, name: str, raw: dict[str, Any]) -> None:
        env = parse_envelope(raw)
        traceparent = raw.get("traceparent")
        self.manager = liveobs.sdk.live_event(
            name, event_id=env.event_id, seq=env.seq, route_id=env.route_id,
            traceparent=traceparent if isinstance(traceparent, str) else None,
        )

    def failed(self, exc: Exception) -> Any:
        lo = liveobs.sdk.error_reply(exc)[keys.ENVELOPE_KEY]
        _log.error("live event failed", **{keys.ERROR_TYPE: lo.get("error_class")}, exc_info=exc)
        return {keys.ENVELOPE_KEY: lo}


def live_handler(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` (sync or async, ``(sid, data, ...)``) run as a live event when its data carries ``lo``."""
    if getattr(handler, _WRAPPED, False):
        return handler

    def strip(args: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
        found = _envelope(args)
        if found is None:
            return args, None
        data, raw = found
        clean = {k: v for k, v in data.items() if k != keys.ENVELOPE_KEY}
        return (args[0], clean, *args[2:]), raw

    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def run_async(*args: Any) -> Any:
            args, raw = strip(args)
            if raw is None:
                return await handler(*args)
            event = _Event(name, raw)
            with event.manager as recorder:
                try:
                    result = await handler(*args)
                except Exception as exc:
                    return event.failed(exc)
                return _with_reply(result, recorder.reply())

        setattr(run_async, _WRAPPED, True)
        return run_async

    @functools.wraps(handler)
    def run(*args: Any) -> Any:
        args, raw = strip(args)
        if raw is None:
            return handler(*args)
        event = _Event(name, raw)
        with event.manager as recorder:
            try:
                result = handler(*args)
            except Exception as exc:
                return event.failed(exc)
            return _with_reply(result, recorder.reply())

    setattr(run, _WRAPPED, True)
    return run


def observe_socketio(server: Any) -> Any:
    """Wrap every event handler registered on ``server`` (a python-socketio ``AsyncServer``); returns it.

    Call it after the handlers are registered (``@sio.event``, ``@sio.on(...)``);
    ``connect``, ``disconnect`` and catch-all handlers stay as they are.
    """
    for events in server.handlers.values():
        for name, handler in list(events.items()):
            if name not in RESERVED and callable(handler):
                events[name] = live_handler(name, handler)
    return server


class SocketIOAssets:
    """ASGI: serve ``liveobs-socketio.js``; everything else goes to the socket.io app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.asset = companion(COMPANION)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await handled_outside_the_socket(self.app, self.asset, scope, receive, send):
            await self.app(scope, receive, send)  # socket.io's own WebSocket transport


def observe_socketio_app(app: ASGIApp, *, session_cookie: str | None = SESSION_COOKIE, **options: Any) -> ASGIApp:
    """``app`` (``socketio.ASGIApp`` or the app it wraps) observed: :func:`liveobs.sdk.observe_live_app` around it.

    ``session_cookie`` names the stable session cookie given to browsers without
    one (``None``: the app has its own; pass ``session=`` then). ``options`` go to
    :func:`liveobs.sdk.observe_live_app`.
    """
    inner: ASGIApp = SocketIOAssets(app)
    if session_cookie is not None:
        inner = SessionCookie(inner, session_cookie)
        options.setdefault("session", liveobs.sdk.cookie_session(session_cookie))
    return AcceptedCloseCodes(liveobs.sdk.observe_live_app(inner, **options))


def socketio_head_tags(*, nonce: str | None = None, timeout_ms: int | None = None) -> str:
    """The page's liveobs ``<head>`` content: the meta tags, ``liveobs.js`` and ``liveobs-socketio.js``.

    Put it after the socket.io client's ``<script>``; the page then connects with ``liveobs.io(...)``.
    """
    warn_without_session()
    return (liveobs.sdk.head_tags() + liveobs.sdk.script_tag(nonce=nonce, timeout_ms=timeout_ms)
            + companion_tag(COMPANION, nonce=nonce))
