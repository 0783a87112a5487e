"""Security evidence: each check recorded as a liveobs.security span event, never a secret.

The recorders are exercised on real SDK spans exported in memory; the automatic
ones (CSP, SRI, body limit, WebSocket Origin/Host) through the real middleware
stack under uvicorn, exported over OTLP/HTTP.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import liveobs.sdk
from liveobs.conventions import evidence as ev
from liveobs.evidence import grade_header, judge_resources, resources_from_json, served_from_json
from liveobs.sdk._evidence import (
    csp_attributes,
    record_body_limit,
    record_capability,
    record_csp,
    record_key_custody,
    record_rate_limit,
    record_scope,
    record_session_key,
    record_sri,
    record_upload_scan,
    record_ws_host,
    record_ws_origin,
    sri_attributes,
)
from liveobs.sdk._evidence_asgi import observe_live_app

SESSION_SECRET = "k2-secret-Zq8vN3xL0pR7tY5wB1mC9dF4"
COOKIE_VALUE = "cookie-value-4f1d9a7c2b8e"


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _security(span: ReadableSpan) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == ev.SECURITY_EVENT]


def _record(provider: TracerProvider, exporter: InMemorySpanExporter, action: Any) -> list[dict[str, Any]]:
    with provider.get_tracer("test").start_as_current_span("request"):
        action()
    (span,) = exporter.get_finished_spans()
    exporter.clear()
    return _security(span)


def test_csp_is_kept_as_sent_with_nonces_as_digests() -> None:
    header = "default-src 'self'; script-src 'nonce-r4nd0mN0nce' 'strict-dynamic'; object-src 'none'; base-uri 'none'"
    outcome, attrs = csp_attributes(header)
    assert outcome == ev.OUTCOME_PRESENT
    assert set(attrs) == {ev.CSP_POLICY}
    assert "r4nd0mN0nce" not in json.dumps(attrs)
    assert str(attrs[ev.CSP_POLICY]).startswith("default-src 'self'; script-src 'nonce-h.")
    assert grade_header(str(attrs[ev.CSP_POLICY])) == grade_header(header)
    assert csp_attributes(None) == (ev.OUTCOME_MISSING, {})


def test_sri_keeps_the_pages_subresources_with_their_integrity_and_origin() -> None:
    page = """<script src="/a.js" integrity="sha384-xyz" crossorigin="anonymous"></script>
      <script>inline()</script><link rel="stylesheet" href="https://cdn.example/s.css" integrity='sha256-abc'>
      <link rel="icon" href="/i.png"><SCRIPT SRC=/b.js></SCRIPT>"""
    outcome, attrs = sri_attributes(page, "http://app.example")
    assert outcome == ev.OUTCOME_PRESENT  # a cross-origin stylesheet needs SRI
    assert attrs[ev.PAGE_ORIGIN] == "http://app.example"
    kept = resources_from_json(str(attrs[ev.SRI_RESOURCES]))
    assert [(r.tag, r.url, r.integrity) for r in kept] == [
        ("script", "/a.js", ("sha384-invalid",)), ("link", "https://cdn.example/s.css", ("sha256-invalid",)),
        ("script", "/b.js", ())]
    assert sri_attributes("<p>no scripts</p>", "http://app.example")[0] == ev.OUTCOME_MISSING


def test_every_explicit_recorder_adds_its_check_and_outcome(spans: Any) -> None:
    provider, exporter = spans
    now = datetime(2026, 5, 1, tzinfo=UTC)
    events = _record(provider, exporter, lambda: (
        record_csp(None),
        record_sri('<script src="/x.js"></script>'),
        record_ws_origin("https://evil.example", accepted=False, host="app.example"),
        record_ws_origin("https://app.example", accepted=True, host="app.example"),
        record_ws_host("internal:8080", accepted=False),
        record_body_limit(1024, 4096),
        record_upload_scan(False, scanner="clamav", size_bytes=2048, threat="Eicar-Test-Signature", accepted=False),
        record_upload_scan(True, scanner="clamav", size_bytes=10),
        record_rate_limit(False, policy="login", per_minute=5),
        record_scope({"board:write"}, {"board:read"}),
        record_capability("board.delete", allowed=False, granted={"board.read", "card.move"}),
        record_session_key("k2", now - timedelta(days=3), now=now),
        record_key_custody("env", key_id="k2"),
    ))
    by_check = [(e[ev.SECURITY_CHECK], e[ev.SECURITY_OUTCOME]) for e in events]
    assert by_check == [
        (ev.CHECK_CSP, "missing"), (ev.CHECK_SRI, "missing"), (ev.CHECK_WS_ORIGIN, "refused"),
        (ev.CHECK_WS_ORIGIN, "accepted"), (ev.CHECK_WS_HOST, "refused"), (ev.CHECK_BODY_LIMIT, "refused"),
        (ev.CHECK_UPLOAD_SCAN, "infected"), (ev.CHECK_UPLOAD_SCAN, "clean"), (ev.CHECK_RATE_LIMIT, "denied"),
        (ev.CHECK_SCOPE, "denied"), (ev.CHECK_CAPABILITY, "denied"), (ev.CHECK_SESSION_KEY, "present"),
        (ev.CHECK_KEY_CUSTODY, "present"),
    ]
    assert events[2][ev.SECURITY_VALUE] == "https://evil.example"
    assert (events[3][ev.SECURITY_VALUE], events[3][ev.HANDSHAKE_HOST]) == ("https://app.example", "app.example")
    assert events[4][ev.SECURITY_VALUE] == "internal:8080"
    assert (events[5][ev.LIMIT_BYTES], events[5][ev.OBSERVED_BYTES]) == (1024, 4096)
    assert events[6][ev.UPLOAD_THREAT] == "Eicar-Test-Signature"
    assert events[6][ev.UPLOAD_SCANNER] == "clamav"
    assert events[6][ev.SECURITY_DECISION] == "refused"
    assert ev.UPLOAD_THREAT not in events[7]
    assert ev.SECURITY_DECISION not in events[7]
    assert (events[8][ev.RATE_LIMIT_POLICY], events[8][ev.RATE_LIMIT_PER_MINUTE]) == ("login", 5.0)
    assert (events[9][ev.SCOPE_REQUIRED], events[9][ev.SCOPE_GRANTED]) == ("board:write", "board:read")
    assert events[10][ev.CAPABILITY_NAME] == "board.delete"
    assert events[10][ev.CAPABILITY_GRANTED] == "board.read,card.move"
    assert (events[11][ev.KEY_ID], events[11][ev.KEY_AGE_SECONDS]) == ("k2", 3 * 86400)
    assert (events[12][ev.KEY_SOURCE_KIND], events[12][ev.KEY_ID]) == ("env", "k2")


def test_scope_check_returns_the_decision_it_records(spans: Any) -> None:
    provider, exporter = spans
    decisions: list[bool] = []
    events = _record(provider, exporter, lambda: decisions.extend(
        [record_scope({"read"}, {"read", "write"}), record_scope({"admin"}, set())]))
    assert decisions == [True, False]
    assert [e[ev.SECURITY_OUTCOME] for e in events] == ["allowed", "denied"]


def test_offending_values_are_bounded_and_scrubbed_and_key_material_is_refused(spans: Any) -> None:
    provider, exporter = spans
    origin = "https://admin:hunter2hunter2@evil.example/" + "x" * 500
    events = _record(provider, exporter, lambda: (
        record_ws_origin(origin, accepted=False), record_ws_host(None, accepted=False)))
    value = str(events[0][ev.SECURITY_VALUE])
    assert len(value) <= 128
    assert "hunter2" not in value
    assert events[1][ev.SECURITY_VALUE] == "(none)"
    with pytest.raises(ValueError, match="never the key"):
        record_session_key(SESSION_SECRET, datetime.now(UTC))
    with pytest.raises(ValueError, match="never the key"):
        record_key_custody("env", key_id="ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5")
    with pytest.raises(ValueError, match="source kind"):
        record_key_custody(SESSION_SECRET)


def test_nothing_is_recorded_without_a_recording_span() -> None:
    record_body_limit(1, 2)  # no current span: a no-op, no error
    assert not liveobs.sdk.current_ids().attributes


# --- automatic evidence through the real stack -------------------------------------------


def _app() -> Any:
    async def page(request: Request) -> Response:
        integrity = liveobs.sdk.script_tag().split('integrity="', 1)[1].split('"', 1)[0]
        html = f"<html><head><script src='/_liveobs/liveobs.js' integrity='{integrity}'></script></head></html>"
        return HTMLResponse(html, headers={"Content-Security-Policy": "script-src 'nonce-n0nc3'; object-src 'none'"})

    async def bare(request: Request) -> Response:
        return HTMLResponse("<html><script src='/cdn.js'></script></html>")

    async def upload(request: Request) -> Response:
        return JSONResponse({"size": len(await request.body())})

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    return Starlette(routes=[
        Route("/page", page), Route("/bare", bare), Route("/upload", upload, methods=["POST"]),
        WebSocketRoute("/live", live),
    ])


def _events(configured: Any, prefix: str, count: int = 1) -> list[dict[str, Any]]:
    configured.flush()
    return [e["attributes"] for s in configured.receiver.spans_named(prefix, count)
            for e in s["events"] if e["name"] == ev.SECURITY_EVENT]


def _no_secrets(configured: Any) -> None:
    configured.flush()
    exported = configured.receiver.all_bytes()
    assert COOKIE_VALUE.encode() not in exported
    assert SESSION_SECRET.encode() not in exported


def test_csp_and_sri_of_html_responses_are_recorded_on_the_server_span(configured: Any, serve: Any) -> None:
    keys_ring = liveobs.sdk.SessionKeyRing({"k2": SESSION_SECRET})
    server = serve(observe_live_app(_app(), session=liveobs.sdk.cookie_session("sid"), session_keys=keys_ring))
    cookies = {"Cookie": f"sid={COOKIE_VALUE}"}
    assert httpx.get(f"{server.http}/page", headers=cookies).status_code == 200
    assert httpx.get(f"{server.http}/bare", headers=cookies).status_code == 200
    page = _events(configured, "GET /page")
    assert [(e[ev.SECURITY_CHECK], e[ev.SECURITY_OUTCOME]) for e in page] == [("csp", "present"), ("sri", "present")]
    # What was sent survives export and redaction: the policy (nonce as a digest), the tags, the digests.
    assert page[0][ev.CSP_POLICY].startswith("script-src 'nonce-h.")
    assert {f.code for f in grade_header(page[0][ev.CSP_POLICY])} == {"base-uri-missing", "frame-ancestors-missing"}
    (resource,) = resources_from_json(page[1][ev.SRI_RESOURCES])
    assert page[1][ev.PAGE_ORIGIN] == server.http
    served = served_from_json(page[1][ev.SRI_SERVED])
    assert judge_resources([resource], page[1][ev.PAGE_ORIGIN], served) == []
    assert resource.integrity[0].startswith("sha384-")
    bare = _events(configured, "GET /bare")
    # A same-origin script that is not the client asset needs no SRI.
    assert [(e[ev.SECURITY_CHECK], e[ev.SECURITY_OUTCOME]) for e in bare] == [("csp", "missing"), ("sri", "missing")]
    _no_secrets(configured)


def test_bodies_over_the_limit_are_refused_with_413_and_recorded(configured: Any, serve: Any) -> None:
    server = serve(observe_live_app(_app(), max_body=1000, session=liveobs.sdk.cookie_session("sid")))
    cookies = {"Cookie": f"sid={COOKIE_VALUE}"}
    assert httpx.post(f"{server.http}/upload", content=b"x" * 500, headers=cookies).json() == {"size": 500}
    declared = httpx.post(f"{server.http}/upload", content=b"x" * 5000, headers=cookies)
    chunked = httpx.post(f"{server.http}/upload", content=iter([b"y" * 600, b"y" * 600]), headers=cookies)
    assert (declared.status_code, chunked.status_code) == (413, 413)
    events = _events(configured, "POST", 3)
    refused = [(e[ev.LIMIT_BYTES], e[ev.OBSERVED_BYTES]) for e in events if e[ev.SECURITY_CHECK] == "body_limit"]
    assert refused == [(1000, 5000), (1000, 1200)]
    _no_secrets(configured)


def _handshake(port: int, origin: str, host: str) -> int:
    """A raw WebSocket upgrade request with exactly these Origin and Host headers; the status code."""
    request = (
        f"GET /live HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\nCookie: sid={COOKIE_VALUE}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_websocket_origin_and_host_checks_refuse_with_403_and_record_both_outcomes(
    configured: Any, serve: Any
) -> None:
    app = observe_live_app(_app(), ws_origins=[], ws_hosts=["127.0.0.1"], session=liveobs.sdk.cookie_session("sid"))
    server = serve(app)
    host = f"127.0.0.1:{server.port}"
    statuses = [
        _handshake(server.port, server.http, host),
        _handshake(server.port, "https://evil.example", host),
        _handshake(server.port, "http://attacker.example", "attacker.example"),
    ]
    assert statuses == [101, 403, 403]
    events = _events(configured, "live.connection", 3)
    outcomes = [(e[ev.SECURITY_CHECK], e[ev.SECURITY_OUTCOME], e.get(ev.SECURITY_VALUE)) for e in events]
    assert outcomes == [
        ("ws_host", "accepted", host), ("ws_origin", "accepted", server.http),
        ("ws_host", "accepted", host), ("ws_origin", "refused", "https://evil.example"),
        ("ws_host", "refused", "attacker.example"),
        ("ws_origin", "accepted", "http://attacker.example"),  # its own origin; the Host failed
    ]
    # Each handshake keeps the Host it came to beside its Origin, so the gate judges foreign-ness itself.
    assert [e.get(ev.HANDSHAKE_HOST) for e in events if e[ev.SECURITY_CHECK] == "ws_origin"] == [
        host, host, "attacker.example"]
    _no_secrets(configured)


def test_websocket_guard_alone_allows_listed_origins_only(configured: Any, serve: Any) -> None:
    guarded = liveobs.sdk.WebSocketGuard(_app(), origins=["https://board.example/"])
    server = serve(liveobs.sdk.LiveObsMiddleware(guarded, session=liveobs.sdk.cookie_session("sid")))
    host = f"127.0.0.1:{server.port}"
    statuses = [_handshake(server.port, "https://board.example", host), _handshake(server.port, server.http, host)]
    assert statuses == [101, 403]
    events = _events(configured, "live.connection", 2)
    assert [(e[ev.SECURITY_CHECK], e[ev.SECURITY_OUTCOME]) for e in events] == [
        ("ws_origin", "accepted"), ("ws_origin", "refused")]


def test_key_evidence_from_a_request_carries_ids_ages_and_custody_but_no_key(configured: Any, serve: Any) -> None:
    ring = liveobs.sdk.SessionKeyRing({"k2": SESSION_SECRET}, current="k2")
    created = datetime.now(UTC) - timedelta(days=10)

    async def keys_in_use(request: Request) -> Response:
        record_session_key(ring.current, created)
        record_key_custody("file", key_id=ring.current)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/keys", keys_in_use)])
    server = serve(observe_live_app(app, session=liveobs.sdk.cookie_session("sid"), session_keys=ring))
    assert httpx.get(f"{server.http}/keys", headers={"Cookie": f"sid={COOKIE_VALUE}"}).status_code == 200
    events = _events(configured, "GET /keys")
    session_key, custody = events
    assert session_key[ev.KEY_ID] == "k2"
    assert 10 * 86400 <= session_key[ev.KEY_AGE_SECONDS] < 10 * 86400 + 60
    assert (custody[ev.KEY_SOURCE_KIND], custody[ev.KEY_ID]) == ("file", "k2")
    _no_secrets(configured)
