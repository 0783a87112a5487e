"""liveobs for the Phoenix LiveView protocol: pyview, and any Python server speaking it.

The Phoenix client sends ``[join_ref, ref, topic, "event", payload]`` frames and
the server answers each with a ``phx_reply`` of the same ``ref``. With
``liveobs-phoenix.js`` loaded (it adds ``payload["lo"]`` to each event push),
:class:`PhoenixEvents` turns every ``event`` frame into a live event with its own
trace (:func:`liveobs.sdk.live_event`), named after the LiveView's path (from
the ``phx_join`` URL); the matching ``phx_reply`` is its reply and carries the
reply's ``lo`` object in ``response``. A handler that crashes the socket is
recorded on the event and answered as an error ``phx_reply`` before the socket
closes (code 4500, which every ASGI server accepts), once, not as a second
incident on the connection.

An app adds::

    liveobs.sdk.configure("board", "1.0.0")
    app.rootTemplate = phoenix_root_template(defaultRootTemplate)   # pyview: the head tags
    app = observe_phoenix_app(app)                                  # outermost ASGI wrapper

"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final
from urllib.parse import urlparse

import structlog

import liveobs.sdk
from liveobs.conventions import parse_envelope, valid_route
from liveobs.sdk.adapters._close import AcceptedCloseCodes
from liveobs.sdk.adapters._companion import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    companion,
    companion_tag,
    handled_outside_the_socket,
)
from liveobs.sdk.adapters._session import SESSION_COOKIE, SessionCookie, warn_without_session

COMPANION: Final = "liveobs-phoenix.js"
CLOSE_HANDLER_FAILED: Final = 4500
_log = structlog.get_logger("liveobs.sdk.adapters.phoenix")


class PhoenixReplyError(Exception):
    """The server answered a live event with an error ``phx_reply`` (no exception was raised)."""


def _frame(data: object) -> list[Any] | None:
    if not isinstance(data, str) or not data.startswith("["):
        return None
    try:
        decoded = json.loads(data)
    except ValueError:
        return None
    return decoded if isinstance(decoded, list) and len(decoded) == 5 else None


class _Pending:
    """The live event opened by one ``event`` frame, until its ``phx_reply``."""

    __slots__ = ("join_ref", "manager", "recorder", "ref", "topic")

    def __init__(self, frame: list[Any], manager: AbstractContextManager[liveobs.sdk.EventRecorder]) -> None:
        self.join_ref, self.ref, self.topic = frame[0], frame[1], frame[2]
        self.manager = manager
        self.recorder = manager.__enter__()


class _Channel:
    """One Phoenix socket through :class:`PhoenixEvents`."""

    def __init__(self, route_of: Callable[[str], str | None]) -> None:
        self.route_of = route_of
        self.route: str | None = None
        self.pending: _Pending | None = None
        self.held_close: Message | None = None

    def received(self, message: Message) -> None:
        self.finish()
        if message.get("type") != "websocket.receive":
            return
        frame = _frame(message.get("text"))
        if frame is None:
            return
        event, payload = frame[3], frame[4]
        if event == "phx_join" and isinstance(payload, dict) and str(frame[2]).startswith("lv:"):
            url = payload.get("redirect") or payload.get("url")
            if isinstance(url, str):
                self.route = self.route_of(urlparse(url).path)
        elif event == "event" and isinstance(payload, dict) and isinstance(payload.get("lo"), dict):
            self.open(frame, payload)

    def open(self, frame: list[Any], payload: dict[str, Any]) -> None:
        raw = payload["lo"]
        env = parse_envelope(raw)
        name = payload.get("event") if isinstance(payload.get("event"), str) else env.event_name
        traceparent = raw.get("traceparent")
        manager = liveobs.sdk.live_event(
            name, event_id=env.event_id, seq=env.seq, route_id=self.route or env.route_id,
            traceparent=traceparent if isinstance(traceparent, str) else None,
        )
        self.pending = _Pending(frame, manager)

    def reply(self, message: Message) -> Message:
        """``message`` with the reply's ``lo`` object when it is the pending event's ``phx_reply``."""
        pending = self.pending
        if pending is None or message.get("type") != "websocket.send":
            return message
        frame = _frame(message.get("text"))
        if frame is None or frame[3] != "phx_reply" or frame[1] != pending.ref or not isinstance(frame[4], dict):
            return message
        body = frame[4]
        response = body.get("response")
        if not isinstance(response, dict):
            response = {}
        if body.get("status") == "ok":
            lo = pending.recorder.reply(len(message["text"].encode("utf-8", "surrogatepass")))
        else:
            lo = liveobs.sdk.error_reply(PhoenixReplyError(str(body.get("status"))))["lo"]
        frame[4] = {**body, "response": {**response, "lo": lo}}
        self.finish()
        return {**message, "text": json.dumps(frame, separators=(",", ":"))}

    def failed(self, exc: Exception) -> Message | None:
        """Record ``exc`` on the pending event; the error ``phx_reply`` to send, if an event was pending."""
        pending = self.pending
        if pending is None:
            return None
        lo = liveobs.sdk.error_reply(exc)["lo"]
        _log.error("live event failed", exc_info=exc)
        answer = [pending.join_ref, pending.ref, pending.topic, "phx_reply", {"status": "error", "response": {"lo": lo}}]
        pending.manager.__exit__(type(exc), exc, exc.__traceback__)
        self.pending = None
        return {"type": "websocket.send", "text": json.dumps(answer, separators=(",", ":"))}

    def finish(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.manager.__exit__(None, None, None)


def path_route(path: str) -> str | None:
    """The default route of a LiveView: its path, when it is a valid route id."""
    return valid_route(path)


class PhoenixEvents:
    """ASGI: Phoenix ``event`` frames as live events; serves ``liveobs-phoenix.js``.

    It runs inside the liveobs middleware (:func:`observe_phoenix_app` puts it
    there). ``route_of`` maps a LiveView's URL path to its route id (default:
    the path itself; pass one that returns the template for paths with ids).
    """

    def __init__(self, app: ASGIApp, *, route_of: Callable[[str], str | None] = path_route) -> None:
        self.app = app
        self.route_of = route_of
        self.asset = companion(COMPANION)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await handled_outside_the_socket(self.app, self.asset, scope, receive, send):
            return
        channel = _Channel(self.route_of)
        closed = False

        async def receive_events() -> Message:
            message = await receive()
            channel.received(message)
            return message

        async def send_replies(message: Message) -> None:
            nonlocal closed
            kind = message.get("type")
            if kind == "websocket.close" and channel.pending is not None:
                channel.held_close = message  # the error reply, if any, goes out first
                return
            closed = closed or kind == "websocket.close"
            await send(channel.reply(message))

        try:
            await self.app(scope, receive_events, send_replies)
        except Exception as exc:
            answer = channel.failed(exc)
            if answer is None:
                raise
            if not closed:
                await send(answer)
                await send(channel.held_close or {"type": "websocket.close", "code": CLOSE_HANDLER_FAILED})
            return
        channel.finish()
        if channel.held_close is not None and not closed:
            await send(channel.held_close)


def observe_phoenix_app(
    app: ASGIApp, *, session_cookie: str | None = SESSION_COOKIE,
    route_of: Callable[[str], str | None] = path_route, **options: Any,
) -> ASGIApp:
    """``app`` observed as a Phoenix LiveView app: :func:`liveobs.sdk.observe_live_app` around :class:`PhoenixEvents`.

    ``session_cookie`` names the stable session cookie given to browsers without
    one (``None``: the app has its own; pass ``session=`` then). ``options`` go
    to :func:`liveobs.sdk.observe_live_app`.
    """
    inner: ASGIApp = PhoenixEvents(app, route_of=route_of)
    if session_cookie is not None:
        inner = SessionCookie(inner, session_cookie)
        options.setdefault("session", liveobs.sdk.cookie_session(session_cookie))
    return AcceptedCloseCodes(liveobs.sdk.observe_live_app(inner, **options))


def phoenix_head_tags(*, nonce: str | None = None, timeout_ms: int | None = None) -> str:
    """The page's liveobs ``<head>`` content: the meta tags, ``liveobs.js`` and ``liveobs-phoenix.js``.

    Put it before the script that creates the ``LiveSocket`` (both are deferred, in order).
    """
    warn_without_session()
    return (liveobs.sdk.head_tags() + liveobs.sdk.script_tag(nonce=nonce, timeout_ms=timeout_ms)
            + companion_tag(COMPANION, nonce=nonce))


def phoenix_root_template(root_template: Callable[..., Callable[[Any], str]], **options: Any) -> Callable[[Any], str]:
    """A pyview root template (``defaultRootTemplate``) whose ``head_content`` holds :func:`phoenix_head_tags`.

    ``options`` go to ``root_template`` (``css``, ``title``...); the head tags are rendered per page.
    """
    extra = options.pop("head_content", None) or ""
    timeout_ms = options.pop("timeout_ms", None)

    def render(context: Any) -> str:
        return root_template(head_content=phoenix_head_tags(timeout_ms=timeout_ms) + str(extra), **options)(context)

    return render
