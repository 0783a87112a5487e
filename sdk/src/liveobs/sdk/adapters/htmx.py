"""liveobs for the htmx ws extension: HTML over WebSocket.

htmx sends ``{"action": ..., "HEADERS": {...}}`` and swaps the HTML the server
sends back; neither side knows the ``lo`` envelope. Two halves fix that:

* in the browser, ``liveobs-htmx.js`` (a companion of ``liveobs.js``, served
  with SRI) adds the envelope to every ws-send (htmx's ``htmx:wsConfigSend``)
  and names the socket (``lo_cid``), so the middleware makes one trace per send;
* on the server, :class:`HtmxReplies` appends the reply's ``lo`` object to the
  first HTML message after the event as a comment, ``<!--lo:{...}-->``, which
  htmx does not swap and the companion reads. A failure the middleware answers
  is a JSON error reply, which the companion reads and keeps out of the swap.

An app adds::

    liveobs.sdk.configure("board", "1.0.0")
    app = observe_htmx_app(app)                  # outermost ASGI wrapper
    ... f"<head>{htmx_head_tags()}</head>" ...   # after htmx and ws.js

"""

from __future__ import annotations

import json
from typing import Any, Final

import liveobs.sdk
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

COMPANION: Final = "liveobs-htmx.js"
MARKER_OPEN: Final = "<!--lo:"
MARKER_CLOSE: Final = "-->"


def _comment_safe(text: str) -> str:
    """JSON text that may sit inside an HTML comment: no "-", ">" or "<" (JSON's escapes keep it parseable).

    Three ``str.replace`` calls: ``str.translate`` with a mapping costs ten times more on every reply.
    """
    return text.replace("-", "\\u002d").replace(">", "\\u003e").replace("<", "\\u003c")


def reply_marker(lo: dict[str, Any]) -> str:
    """The reply's ``lo`` object as the HTML comment the companion reads."""
    return MARKER_OPEN + _comment_safe(json.dumps(lo, separators=(",", ":"))) + MARKER_CLOSE


class HtmxReplies:
    """ASGI: serve ``liveobs-htmx.js`` and mark each HTML reply to a live event with its ``lo`` object.

    It runs inside the liveobs middleware (:func:`observe_htmx_app` puts it
    there), in the app's task, where :func:`liveobs.sdk.current_event` is the
    event the message answers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.asset = companion(COMPANION)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await handled_outside_the_socket(self.app, self.asset, scope, receive, send):
            return

        async def send_marked(message: Message) -> None:
            if message.get("type") == "websocket.send":
                message = mark_reply(message)
            await send(message)

        await self.app(scope, receive, send_marked)


def mark_reply(message: Message) -> Message:
    """``message`` with the pending event's reply marker appended, when it is an HTML reply to one."""
    text = message.get("text")
    event = liveobs.sdk.current_event()
    if event is None or event.replied or not isinstance(text, str):
        return message
    if not text.startswith("<"):  # an HTML fragment starts with its tag: no copy of it to strip
        body = text.strip()
        if body.startswith("{") and body.endswith("}"):
            return message  # JSON: the middleware adds the envelope itself
    encoded = len(text.encode("utf-8", "surrogatepass"))
    lo = _comment_safe(event.reply_json(encoded, None))
    return {**message, "text": f"{text}{MARKER_OPEN}{lo}{MARKER_CLOSE}"}


def observe_htmx_app(app: ASGIApp, *, session_cookie: str | None = SESSION_COOKIE, **options: Any) -> ASGIApp:
    """``app`` observed as an htmx ws app: :func:`liveobs.sdk.observe_live_app` around :class:`HtmxReplies`.

    ``session_cookie`` names the stable session cookie given to browsers without
    one (``None``: the app has its own; pass ``session=`` then). ``options`` go
    to :func:`liveobs.sdk.observe_live_app` (``ws_origins``, ``session_keys``...).
    """
    inner: ASGIApp = HtmxReplies(app)
    if session_cookie is not None:
        inner = SessionCookie(inner, session_cookie)
        options.setdefault("session", liveobs.sdk.cookie_session(session_cookie))
    return AcceptedCloseCodes(liveobs.sdk.observe_live_app(inner, **options))


def htmx_head_tags(*, nonce: str | None = None, timeout_ms: int | None = None) -> str:
    """The page's liveobs ``<head>`` content: the meta tags, ``liveobs.js`` and ``liveobs-htmx.js``.

    Put it after the ``<script>`` tags of htmx and its ws extension.
    """
    warn_without_session()
    return (liveobs.sdk.head_tags() + liveobs.sdk.script_tag(nonce=nonce, timeout_ms=timeout_ms)
            + companion_tag(COMPANION, nonce=nonce))
