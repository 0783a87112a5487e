"""liveobs for NiceGUI (3.x): its UI events as live events, over its own socket.io connection.

NiceGUI's client sends every UI event as one socket.io message,
``42["event",{"id":..,"client_id":..,"listener_id":..,"args":[..]}]``, and its
handlers answer by updating elements, not with a reply; a handler that raises is
caught by NiceGUI and passed to ``app.on_exception`` handlers. Two halves make
each UI event a live event with its own trace:

* in the browser, ``liveobs-nicegui.js`` (a companion of ``liveobs.js``, served
  with SRI, in the page's head) wraps the page's ``io(...)``: the connection is
  named (``lo_cid``, so browser reports carry the server's connection id), each
  ``event`` message gets the ``lo`` envelope and asks for an acknowledgement,
  which carries the reply;
* on the server, :func:`observe_nicegui` wraps NiceGUI's ``event`` handler: the
  UI handler runs inside :func:`liveobs.sdk.live_event` under the browser's event
  id and named after the app's handler function (an async handler, which NiceGUI runs
  as a background task, is awaited inside the event, so its log lines are in the
  event's trace). A handler's exception, which NiceGUI hands to its exception
  handlers, is recorded on the event, logged once in its trace and acknowledged
  with an error reply; the page gets the reference.

An app adds::

    import liveobs.sdk
    from liveobs.sdk.adapters.nicegui import nicegui_head_tags, observe_nicegui
    liveobs.sdk.configure("board", "1.0.0")
    observe_nicegui(app)                          # nicegui's app, before ui.run()
    ui.add_head_html(nicegui_head_tags())         # in each @ui.page

Needs NiceGUI (``pip install "liveobs-sdk[nicegui]"``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, Final

import structlog
from nicegui import background_tasks, core
from nicegui.client import Client

import liveobs.sdk
from liveobs.conventions import keys, parse_envelope
from liveobs.sdk._compat import nicegui_listeners
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

COMPANION: Final = "liveobs-nicegui.js"
NAMESPACE: Final = "/"
_WRAPPED: Final = "__liveobs_wrapped__"
# The exceptions NiceGUI handed to its exception handlers during the current live event.
_FAILURES: contextvars.ContextVar[list[Exception] | None] = contextvars.ContextVar("liveobs_nicegui_failures",
                                                                                   default=None)
_log = structlog.get_logger("liveobs.sdk.adapters.nicegui")


def record_failure(exception: Exception) -> None:
    """NiceGUI exception handler: note ``exception`` for the live event whose handler raised it."""
    failures = _FAILURES.get()
    if failures is not None:
        failures.append(exception)


def _listener(msg: dict[str, Any]) -> Any:
    """The NiceGUI event listener ``msg`` is for, or ``None``."""
    client = Client.instances.get(msg.get("client_id"))  # type: ignore[arg-type]
    element = client.elements.get(msg.get("id")) if client is not None else None  # type: ignore[arg-type]
    listeners = nicegui_listeners(element)
    return listeners.get(msg.get("listener_id")) if listeners is not None else None


def _named(fn: Any) -> str | None:
    """``fn``'s name when it is an app's named function (not a lambda, not one of NiceGUI's own)."""
    name = getattr(fn, "__name__", None)
    module = getattr(fn, "__module__", None) or ""
    if isinstance(name, str) and name.isidentifier() and module.split(".")[0] != "nicegui":
        return name
    return None


def _handler_name(handler: Any) -> str | None:
    """The app's handler behind a listener: the listener itself, or the callback its lambda closes over.

    ``ui.button(on_click=add_card)`` registers ``lambda _: handle_event(add_card, ...)``.
    """
    found = _named(handler)
    if found is not None:
        return found
    for cell in getattr(handler, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(value) and (found := _named(value)) is not None:
            return found
    return None


def event_name(msg: dict[str, Any], browser_name: str | None) -> str | None:
    """The live event's name: the app's handler's name, else the element's event type, else the browser's."""
    try:
        listener = _listener(msg)
        name = _handler_name(getattr(listener, "handler", None))
    except Exception:
        listener, name = None, None
    if name is not None:
        return name
    kind = getattr(listener, "type", None)
    return kind if isinstance(kind, str) and kind else browser_name


def live_events(handler: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """NiceGUI's ``event`` handler (``(sid, msg)``), each message with ``lo`` run as a live event."""
    if getattr(handler, _WRAPPED, False):
        return handler

    async def on_event(sid: str, msg: Any) -> Any:
        raw = msg.pop(keys.ENVELOPE_KEY, None) if isinstance(msg, dict) else None
        if not isinstance(raw, dict):
            return handler(sid, msg)
        env = parse_envelope(raw)
        traceparent = raw.get("traceparent")
        failures: list[Exception] = []
        token = _FAILURES.set(failures)
        try:
            with liveobs.sdk.live_event(
                event_name(msg, env.event_name), event_id=env.event_id, seq=env.seq, route_id=env.route_id,
                traceparent=traceparent if isinstance(traceparent, str) else None,
            ) as recorder:
                running: set[asyncio.Task[Any]] = background_tasks.running_tasks
                before = set(running)
                handler(sid, msg)
                started = running - before  # an async UI handler's task, started inside this event's context
                if started:
                    await asyncio.wait(started)
                if not failures:
                    return {keys.ENVELOPE_KEY: recorder.reply()}
                lo = recorder.fail(failures[0])
                recorder.note_error_reply(lo)
                _log.error("live event failed", **{keys.ERROR_TYPE: lo.get("error_class")}, exc_info=failures[0])
                return {keys.ENVELOPE_KEY: lo}
        finally:
            _FAILURES.reset(token)

    setattr(on_event, _WRAPPED, True)
    return on_event


class NiceGUIObserved:
    """ASGI middleware for NiceGUI's app (``app.add_middleware``): liveobs around it, its session cookie, the asset."""

    def __init__(self, app: ASGIApp, session_cookie: str | None = SESSION_COOKIE,
                 options: dict[str, Any] | None = None) -> None:
        self.app = app
        self.asset = companion(COMPANION)
        options = dict(options or {})
        inner: ASGIApp = self._inner
        if session_cookie is not None:
            inner = SessionCookie(inner, session_cookie)
            options.setdefault("session", liveobs.sdk.cookie_session(session_cookie))
        self.observed = AcceptedCloseCodes(liveobs.sdk.observe_live_app(inner, **options))

    async def _inner(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await handled_outside_the_socket(self.app, self.asset, scope, receive, send):
            await self.app(scope, receive, send)  # NiceGUI's socket.io WebSocket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.observed(scope, receive, send)


def observe_nicegui(app: Any = None, *, session_cookie: str | None = SESSION_COOKIE, **options: Any) -> Any:
    """Observe NiceGUI's ``app`` (default ``nicegui.app``); call it once, before ``ui.run()``. Returns ``app``.

    Wraps NiceGUI's socket.io ``event`` handler, adds :func:`record_failure` to
    its exception handlers and adds :class:`NiceGUIObserved` as a middleware.
    ``session_cookie`` names the stable session cookie given to browsers without
    one (NiceGUI re-signs its own session cookie on every response); ``None``
    when the app passes ``session=``. ``options`` go to
    :func:`liveobs.sdk.observe_live_app`.
    """
    if app is None:
        app = core.app
    handlers = core.sio.handlers.setdefault(NAMESPACE, {})
    if "event" in handlers:
        handlers["event"] = live_events(handlers["event"])
    if not getattr(app, "_liveobs_observed", False):
        app.on_exception(record_failure)
        app.add_middleware(NiceGUIObserved, session_cookie=session_cookie, options=options)
        app._liveobs_observed = True
    return app


def nicegui_head_tags(*, nonce: str | None = None, timeout_ms: int | None = None) -> str:
    """The page's liveobs ``<head>`` content: meta tags, ``liveobs.js`` and ``liveobs-nicegui.js``.

    ``ui.add_head_html(nicegui_head_tags())`` in each ``@ui.page`` function (it
    renders the page's own session and request ids, so it is not shared).
    """
    warn_without_session()
    return (liveobs.sdk.head_tags() + liveobs.sdk.script_tag(nonce=nonce, timeout_ms=timeout_ms)
            + companion_tag(COMPANION, nonce=nonce))
