"""A stable session cookie for frameworks that have none (or re-sign theirs on every response).

liveobs.js reports only for a page with a session id, and the live socket joins
the page's session by it. :class:`SessionCookie` gives every browser a random,
HttpOnly ``SameSite=Lax`` cookie on its first page request and tells liveobs about
it (:func:`liveobs.sdk.start_session`) before the app renders, so the page's
head tags already carry the session. It must run inside the liveobs middleware;
``session=liveobs.sdk.cookie_session(name)`` then reads it on later requests.
"""

from __future__ import annotations

import secrets
import threading
from typing import Final

import structlog

import liveobs.sdk
from liveobs.sdk.adapters._companion import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE: Final = "liveobs_sid"
NO_SESSION_WARNING: Final = (
    "liveobs: a page was rendered without a session id, so liveobs.js cannot send browser reports from it; "
    "keep the adapter's session cookie (session_cookie=...) or pass session=... for the app's own"
)
_log = structlog.get_logger("liveobs.sdk.adapters")
_warned = threading.Event()


def warn_without_session() -> bool:
    """Log :data:`NO_SESSION_WARNING` once per process when the page being rendered has no session id.

    Returns whether the page has a session id.
    """
    if liveobs.sdk.current_ids().session_id:
        return True
    if not _warned.is_set():
        _warned.set()
        _log.warning(NO_SESSION_WARNING)
    return False


def _is_page_request(scope: Scope) -> bool:
    """A ``GET`` whose ``Accept`` asks for HTML: a navigation, the request that renders a page."""
    if scope.get("method") != "GET":
        return False
    return any(key == b"accept" and b"text/html" in bytes(value) for key, value in scope.get("headers") or ())


def _has_cookie(scope: Scope, wanted: bytes) -> bool:
    for key, value in scope.get("headers") or ():
        if key == b"cookie":
            for part in bytes(value).split(b";"):
                name, sep, found = part.strip().partition(b"=")
                if sep and name == wanted and found:
                    return True
    return False


class SessionCookie:
    """ASGI: set cookie ``name`` on a browser's first page request and start its liveobs session."""

    def __init__(self, app: ASGIApp, name: str = SESSION_COOKIE) -> None:
        self.app = app
        self.name = name
        self._wanted = name.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only a page gets a new cookie: a script, image or API call arriving first must not start
        # a second session that would replace the page's cookie.
        if scope.get("type") != "http" or not _is_page_request(scope) or _has_cookie(scope, self._wanted):
            await self.app(scope, receive, send)
            return
        raw = secrets.token_urlsafe(24)
        liveobs.sdk.start_session(raw)
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{self.name}={raw}; Path=/; HttpOnly; SameSite=Lax{secure}".encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*(message.get("headers") or ()), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
