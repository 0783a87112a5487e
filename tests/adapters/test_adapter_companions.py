"""The companion scripts in headless Chromium, without a server: the session warning, the sockets they name."""

from __future__ import annotations

from typing import Any

import pytest
from adapter_helpers import HERE

from liveobs.sdk.adapters._companion import companion

pytestmark = [pytest.mark.browser]
VENDOR = HERE / "vendor"


def _page(browser: Any, head: str, *scripts: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    liveobs_js = companion("liveobs.js").body.decode()
    bodies = [liveobs_js, *scripts]
    page.set_content("<!doctype html><html><head>" + head + "".join(f"<script>{s}</script>" for s in bodies)
                     + "</head><body></body></html>")
    return context, page, console


def test_without_a_session_the_companions_warn_once_in_the_console(browser: Any) -> None:
    htmx = (VENDOR / "htmx-2.0.11.min.js").read_text() + (VENDOR / "htmx-ext-ws-2.0.4.js").read_text()
    for scripts in ((htmx, companion("liveobs-htmx.js").body.decode()), (companion("liveobs-phoenix.js").body.decode(),)):
        context, _, console = _page(browser, "", *scripts)
        context.close()
        warnings = [line for line in console if "no session id" in line]
        assert len(warnings) == 1, console
        assert warnings[0].startswith("warning: ")


def test_the_phoenix_companion_names_phoenix_sockets_only(browser: Any) -> None:
    context, page, console = _page(browser, '<meta name="liveobs-session-id" content="eph.0123456789abcdef">',
                                   companion("liveobs-phoenix.js").body.decode())
    try:
        assert not [line for line in console if "no session id" in line], console
        # Port 9 (discard) on 127.0.0.1: the sockets fail to connect, their URLs are what counts.
        found = page.evaluate("""() => {
          const phoenix = new WebSocket("ws://127.0.0.1:9/live/websocket?vsn=2.0.0");
          const plain = new WebSocket("ws://127.0.0.1:9/other");
          const result = {phoenix: phoenix.url, plain: plain.url, instance: phoenix instanceof WebSocket};
          phoenix.close(); plain.close();
          return result;
        }""")
        assert "&lo_cid=" in found["phoenix"]
        assert found["plain"] == "ws://127.0.0.1:9/other"
        assert found["instance"] is True
    finally:
        context.close()
