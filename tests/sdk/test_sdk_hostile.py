"""Hostile input through the real middleware: no exception escapes, nothing unvalidated is recorded."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import liveobs.sdk
from liveobs.conventions import keys, valid_id, valid_name, valid_route

ID_KEYS = (keys.EVENT_ID, keys.REQUEST_ID, keys.CONNECTION_ID, keys.SESSION_ID)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=50),
    st.sampled_from(["a\nb", "x" * 1_000_000, "\x00", "req\r\nSet-Cookie: a=b", "../../etc", "{", "\ud800"]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=20), c, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def harness() -> Iterator[tuple[InMemorySpanExporter, io.StringIO]]:
    spans = InMemorySpanExporter()
    lines = io.StringIO()
    liveobs.sdk.configure("hostile", span_exporter=spans, batch=False, set_global=False, log_file=lines)
    yield spans, lines
    liveobs.sdk.shutdown()


async def _echo_ws(scope: Any, receive: Any, send: Any) -> None:
    import structlog

    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            structlog.get_logger().info("got message")
            await send({"type": "websocket.send", "text": "{}"})
        else:
            return


async def _http(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _drive(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _check_recorded(spans: InMemorySpanExporter, lines: io.StringIO) -> None:
    for span in spans.get_finished_spans():
        attrs = dict(span.attributes or {})
        for key in ID_KEYS:
            if key in attrs:
                assert valid_id(attrs[key]) == attrs[key], (key, attrs[key])
        if keys.ROUTE_ID in attrs:
            assert valid_route(attrs[keys.ROUTE_ID]) == attrs[keys.ROUTE_ID]
        if keys.EVENT_NAME in attrs:
            assert valid_name(attrs[keys.EVENT_NAME]) == attrs[keys.EVENT_NAME]
    for line in lines.getvalue().splitlines():
        record = json.loads(line)  # one object per line: no newline got through unescaped
        for key in ID_KEYS:
            if key in record:
                assert valid_id(record[key]) == record[key]
    spans.clear()
    lines.seek(0)
    lines.truncate()


header_value = st.one_of(st.binary(max_size=300), HOSTILE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request_id=header_value, traceparent=header_value, cookie=header_value, path=st.text(max_size=100))
def test_hostile_http_headers_never_raise_and_never_reach_a_span_unvalidated(
    harness: Any, request_id: bytes, traceparent: bytes, cookie: bytes, path: str
) -> None:
    spans, lines = harness
    app = liveobs.sdk.LiveObsMiddleware(_http, session=liveobs.sdk.cookie_session("sid"), trust_traceparent=True)
    scope = {"type": "http", "method": "GET", "path": path, "headers": [
        (b"x-request-id", request_id), (b"traceparent", traceparent), (b"cookie", b"sid=" + cookie)]}
    sent = _drive(app, scope, [{"type": "http.request", "body": b""}])
    (echoed,) = [v for k, v in sent[0]["headers"] if k == b"x-request-id"]
    assert valid_id(echoed.decode()) == echoed.decode()
    _check_recorded(spans, lines)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lo=JSON, payload=JSON)
def test_hostile_envelopes_never_raise_and_never_reach_a_span_unvalidated(harness: Any, lo: Any, payload: Any) -> None:
    spans, lines = harness
    app = liveobs.sdk.LiveObsMiddleware(_echo_ws, trust_traceparent=True)
    text = json.dumps({"lo": lo, "payload": payload})
    sent = _drive(app, {"type": "websocket", "path": "/live", "headers": []},
                  [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": text}])
    replies = [json.loads(m["text"]) for m in sent if m["type"] == "websocket.send"]
    if len(text.encode("utf-8", "surrogatepass")) <= 64 * 1024:
        assert replies
        assert valid_id(replies[0]["lo"]["event_id"]) == replies[0]["lo"]["event_id"]
    _check_recorded(spans, lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=500), st.text(max_size=500), st.just('{"lo": {"event_id": ' + "[" * 5000 + "}")))
def test_broken_messages_pass_through_without_an_event(harness: Any, raw: Any) -> None:
    spans, lines = harness
    app = liveobs.sdk.LiveObsMiddleware(_echo_ws)
    key = "bytes" if isinstance(raw, bytes) else "text"
    _drive(app, {"type": "websocket", "path": "/live", "headers": []},
           [{"type": "websocket.connect"}, {"type": "websocket.receive", key: raw}])
    _check_recorded(spans, lines)
