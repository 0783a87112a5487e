"""The browser-side test app and headless Chromium, shared by the browser client tests and benchmark.

The app is a small live board under the real stack (``observe_live_app``:
``LiveObsMiddleware`` around ``EvidenceMiddleware``): a page with the liveobs
head tags, ``liveobs.js`` with SRI under a strict nonce CSP, and a WebSocket
that answers ``add`` with a patch, fails on ``fail``, never answers ``slow``
and closes after answering ``drop``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import liveobs.sdk
from liveobs.sdk._assets import script_tag
from liveobs.sdk._evidence_asgi import observe_live_app

SESSION_COOKIE = "sid"
CHROMIUM = "/usr/bin/chromium"
# Headless as root on a closed network: no sandbox, no GPU, none of Chromium's own traffic.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def chromium() -> str:
    """The path of Debian's chromium; fails (never skips) when it is missing."""
    found = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    assert found, "headless Chromium is required for the browser tests: apt-get install chromium (or make browser)"
    return found


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium driven by Playwright: Debian's binary, never a downloaded one."""
    from playwright.sync_api import sync_playwright

    path = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()

_APP_JS = """
window.replies = [];
window.opened = false;
document.addEventListener("liveobs:error", function (e) {
  document.getElementById("ref").textContent = "Something went wrong - reference " + e.detail.reference;
});
document.addEventListener("DOMContentLoaded", function () {
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live";
  window.conn = liveobs.connect(url, {
    baseDelayMs: 50,
    onOpen: function () { window.opened = true; window.opens = (window.opens || 0) + 1; },
    onMessage: function (message, reply) { window.replies.push(message); }
  });
  ["add", "fail", "slow", "drop"].forEach(function (action) {
    document.getElementById(action).addEventListener("click", function () {
      window.conn.send(action === "add" ? "add_card" : action, { action: action });
    });
  });
});
"""


def board_app(
    *, timeout_ms: int = 1500, reports_per_minute: int | None = None, **options: Any
) -> Any:
    """The live board app, fully instrumented; ``options`` go to ``observe_live_app``."""
    from starlette.applications import Starlette
    from starlette.endpoints import WebSocketEndpoint
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    async def page(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        html = (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"{liveobs.sdk.head_tags()}"
            f"{script_tag(nonce=nonce, timeout_ms=timeout_ms, reports_per_minute=reports_per_minute)}"
            f"<script nonce='{nonce}'>{_APP_JS}</script>"
            "</head><body><button id='add'>Add</button><button id='fail'>Fail</button>"
            "<button id='slow'>Slow</button><button id='drop'>Drop</button><ul id='cards'></ul><p id='ref'></p></body></html>"
        )
        csp = f"default-src 'self'; script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'"
        return HTMLResponse(html, headers={"Content-Security-Policy": csp})

    class Live(WebSocketEndpoint):
        encoding = "text"

        @liveobs.sdk.handle_event
        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            action = json.loads(data).get("action")
            if action == "fail":
                raise LookupError("card 42 is gone")
            if action in ("add", "drop"):
                await websocket.send_text(json.dumps({"patch": "<li class='card'>card</li>"}))
            if action == "drop":  # a server restart: the client reconnects
                await websocket.close(1012)

    app = Starlette(routes=[Route("/board/{board_id}", page), WebSocketRoute("/live", Live)])
    options.setdefault("session", liveobs.sdk.cookie_session(SESSION_COOKIE))
    return observe_live_app(app, **options)


def open_board(
    browser: Any, base_url: str, session_key: str | None = None, before: Callable[[Any], None] | None = None
) -> tuple[Any, Any]:
    """A new context and page on ``/board/7`` with a session cookie; waits for the socket.

    ``before(page)`` runs before the page loads (to listen to its WebSocket frames).
    """
    context = browser.new_context(base_url=base_url)
    if session_key != "":  # "" opens the page without a session
        context.add_cookies([{"name": SESSION_COOKIE, "value": session_key or secrets.token_hex(16), "url": base_url}])
    page = context.new_page()
    if before is not None:
        before(page)
    page.goto("/board/7")
    page.wait_for_function("() => window.opened === true", timeout=10_000)
    return context, page
