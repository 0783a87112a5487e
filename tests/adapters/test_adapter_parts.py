"""The adapters' server parts without a browser: the reply marker, the companion asset, the session cookie."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

import liveobs.sdk
from liveobs.sdk.adapters._companion import companion
from liveobs.sdk.adapters.htmx import COMPANION, htmx_head_tags, observe_htmx_app, reply_marker


def test_reply_marker_is_one_html_comment_whose_json_decodes_to_the_reply() -> None:
    lo = {"event_id": "01a24537-a23d-76d8-8f4a-0442a7ac8da8", "ok": True, "note": "a --> b <!-- c"}
    marker = reply_marker(lo)
    assert marker.startswith("<!--lo:")
    assert marker.endswith("-->")
    inner = marker[len("<!--lo:"):-len("-->")]
    assert "--" not in inner
    assert ">" not in inner
    assert json.loads(inner) == lo


def _app() -> Any:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<html><head>{htmx_head_tags(nonce='n1')}</head></html>")

    return observe_htmx_app(Starlette(routes=[Route("/board", page)]))


async def _requests(app: Any, *calls: tuple[str, str, dict[str, str]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return [await client.request(method, url, headers=headers) for method, url, headers in calls]


def test_the_companion_is_served_with_the_hash_its_tag_names() -> None:
    liveobs.sdk.configure("parts", "1.0.0", "test", configure_structlog=False, set_global=False)
    app = _app()
    try:
        page, = asyncio.run(_requests(app, ("GET", "/board", {})))
        tag = re.search(r'<script src="(/_liveobs/liveobs-htmx\.js\?v=\w+)" integrity="([^"]+)"[^>]*nonce="n1"',
                        page.text)
        assert tag is not None, page.text
        etag = companion(COMPANION).etag
        served, again, posted = asyncio.run(_requests(app,
            ("GET", tag.group(1), {}), ("GET", tag.group(1), {"If-None-Match": etag}), ("POST", tag.group(1), {})))
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("text/javascript")
        assert served.headers["etag"] == etag
        digest = base64.b64encode(hashlib.sha384(served.content).digest()).decode()
        assert tag.group(2) == f"sha384-{digest}"
        assert again.status_code == 304
        assert posted.status_code == 405
    finally:
        liveobs.sdk.shutdown()
    assert companion(COMPANION).body == served.content


def test_a_first_visit_gets_a_session_cookie_and_its_page_the_session_id() -> None:
    liveobs.sdk.configure("parts", "1.0.0", "test", configure_structlog=False, set_global=False)
    app = _app()
    try:
        script, first = asyncio.run(_requests(app, ("GET", "/board", {"Accept": "*/*"}),
                                              ("GET", "/board", {"Accept": "text/html,*/*;q=0.8"})))
        assert "set-cookie" not in script.headers  # not a page: no second session racing the page's
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("liveobs_sid=")
        assert "HttpOnly" in cookie
        session = re.search(r'name="liveobs-session-id" content="([^"]+)"', first.text)
        assert session is not None, first.text
        second, = asyncio.run(_requests(app, ("GET", "/board", {"Cookie": cookie.split(";")[0],
                                                                  "Accept": "text/html"})))
        assert "set-cookie" not in second.headers
        again = re.search(r'name="liveobs-session-id" content="([^"]+)"', second.text)
        assert again is not None
        assert again.group(1) == session.group(1)
    finally:
        liveobs.sdk.shutdown()


def test_a_page_rendered_without_a_session_logs_one_warning() -> None:
    from structlog.testing import capture_logs

    from liveobs.sdk.adapters import _session

    _session._warned.clear()
    liveobs.sdk.configure("parts", "1.0.0", "test", configure_structlog=False, set_global=False)
    try:
        with capture_logs() as logs:
            htmx_head_tags()
            htmx_head_tags()
    finally:
        liveobs.sdk.shutdown()
        _session._warned.clear()
    assert [entry["event"] for entry in logs] == [_session.NO_SESSION_WARNING]
    assert logs[0]["log_level"] == "warning"


def test_the_htmx_and_phoenix_adapters_import_no_framework() -> None:
    import subprocess
    import sys

    code = ("import sys, json, liveobs.sdk.adapters.htmx, liveobs.sdk.adapters.phoenix\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                           text=True).stdout))
    assert not loaded & {"starlette", "fastapi", "pyview", "markupsafe", "htmx"}


def test_the_companion_request_span_is_named_by_its_path() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    liveobs.sdk.configure("parts", "1.0.0", "test", span_exporter=exporter, batch=False, configure_structlog=False,
                          set_global=False)
    try:
        served, = asyncio.run(_requests(_app(), ("GET", companion(COMPANION).path, {})))
    finally:
        liveobs.sdk.shutdown()
    assert served.status_code == 200
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /_liveobs/liveobs-htmx.js"]
