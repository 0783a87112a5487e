"""A scrubber that raises while liveobs vets ids and names from outside never reaches the app.

The middleware checks every id the browser or a caller sends (``?lo_cid=``,
``x-request-id``, the envelope's event id and route, the event name) against
the scrubber before it puts it on a span. A scrubber that raises there vets
nothing: the id is dropped and minted anew (never exported unscrubbed), the
failure is counted under ``scrubber`` and warned about once, and the request,
the WebSocket ``receive()`` and the live event reply go on. Real uvicorn,
real WebSocket client, the official in-memory exporter.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.sync.client import connect

import liveobs.sdk
from liveobs.conventions import keys
from liveobs.sdk import _faults

EVENT_POISON = "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a10"
EVENT_CLEAN = "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a11"
CONNECTION_POISON = "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a12"
REQUEST_POISON = "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a13"
POISONED = {EVENT_POISON, CONNECTION_POISON, REQUEST_POISON}


class Broken(Exception):
    """What the injected scrubber raises."""


@pytest.fixture(autouse=True)
def fresh_faults() -> Iterator[None]:
    _faults.reset_faults()
    yield
    _faults.reset_faults()
    liveobs.sdk.shutdown()


def configure(spans: InMemorySpanExporter) -> liveobs.sdk.Telemetry:
    return liveobs.sdk.configure("scrubbed-app", "1.0.0", "test", span_exporter=spans, batch=False,
                                 metric_readers=[InMemoryMetricReader()], log_file=io.StringIO(),
                                 cache_logger=False, set_global=False)


def warnings_about(caplog: pytest.LogCaptureFixture, part: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "liveobs.sdk" and r.getMessage().startswith(f"liveobs telemetry degraded: {part} ")]


def exported_text(spans: InMemorySpanExporter) -> str:
    return json.dumps([
        [s.name, dict(s.attributes or {}), [dict(link.attributes or {}) for link in s.links],
         [[e.name, dict(e.attributes or {})] for e in s.events]]
        for s in spans.get_finished_spans()
    ], default=str)


def test_ids_a_raising_scrubber_cannot_vet_are_minted_anew_and_the_app_goes_on(
    serve: Any, build_app: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spans = InMemorySpanExporter()
    telemetry = configure(spans)
    text = telemetry.scrubber.text

    def raising_on_poison(value: str) -> str:
        if value in POISONED:
            raise Broken("scrubber down")
        return text(value)

    monkeypatch.setattr(telemetry.scrubber, "text", raising_on_poison)
    server = serve(build_app())
    page = httpx.get(f"{server.http}/board/1", cookies={"sid": "abc"}, headers={"x-request-id": REQUEST_POISON})
    assert page.status_code == 200
    assert page.headers["x-request-id"] != REQUEST_POISON  # minted, not taken
    with connect(f"{server.ws}/live-safe?lo_cid={CONNECTION_POISON}",
                 additional_headers={"Cookie": "sid=abc", "x-request-id": REQUEST_POISON}) as ws:
        ws.send(envelope("add_card", EVENT_POISON, 1))
        first = json.loads(ws.recv())["lo"]
        ws.send(envelope("move_card", EVENT_CLEAN, 2))
        second = json.loads(ws.recv())["lo"]
    assert first["ok"] is True
    assert second["ok"] is True
    assert first["event_id"] != EVENT_POISON
    assert second["event_id"] == EVENT_CLEAN
    liveobs.sdk.shutdown()

    events = {s.name: dict(s.attributes or {}) for s in spans.get_finished_spans() if s.name.startswith("live.event")}
    assert set(events) == {"live.event add_card", "live.event move_card"}
    assert events["live.event add_card"][keys.EVENT_ID] == first["event_id"]
    assert events["live.event move_card"][keys.EVENT_ID] == EVENT_CLEAN
    assert events["live.event move_card"][keys.CONNECTION_ID] not in POISONED
    exported = exported_text(spans)
    assert not [value for value in POISONED if value in exported]  # dropped, never exported unscrubbed
    counts = _faults.fault_counts()
    assert counts[_faults.SCRUBBER] == 4  # the page's and the socket's request ids, the connection id, one event id
    assert not {"websocket connect", "websocket receive", "live event end", _faults.SPAN_EXPORT} & set(counts)
    assert len(warnings_about(caplog, _faults.SCRUBBER)) == 1


def test_a_scrubber_that_raises_on_every_vetting_leaves_every_reply_and_receive_intact(
    serve: Any, build_app: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spans = InMemorySpanExporter()
    telemetry = configure(spans)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise Broken("scrubber down")

    monkeypatch.setattr(telemetry.scrubber, "text", broken)
    monkeypatch.setattr(telemetry.scrubber, "clean_mapping", broken)
    server = serve(build_app())
    assert httpx.get(f"{server.http}/board/1", cookies={"sid": "abc"}).status_code == 200
    with connect(f"{server.ws}/live-safe?lo_cid={CONNECTION_POISON}", additional_headers={"Cookie": "sid=abc"}) as ws:
        for seq, event_id in enumerate((EVENT_POISON, EVENT_CLEAN), start=1):
            ws.send(envelope("add_card", event_id, seq))
            reply = json.loads(ws.recv())["lo"]
            assert reply["ok"] is True
            assert reply["event_id"] not in POISONED | {EVENT_CLEAN}  # nothing could be vetted: all minted
        ws.send(envelope("fail", EVENT_CLEAN, 3))
        failed = json.loads(ws.recv())["lo"]
        assert failed["ok"] is False
        assert failed["error_class"] == "LookupError"
    liveobs.sdk.shutdown()

    counts = _faults.fault_counts()
    assert counts[_faults.SCRUBBER] >= 5
    assert not {"websocket connect", "websocket receive", "live event end"} & set(counts)
    assert len(warnings_about(caplog, _faults.SCRUBBER)) == 1
    # The exporter cannot scrub either: what it could not scrub is lost and counted, never exported raw.
    exported = exported_text(spans)
    assert not [value for value in POISONED | {EVENT_CLEAN} if value in exported]
    assert counts.get(_faults.SPAN_EXPORT, 0) >= 1


def test_a_span_name_the_scrubber_cannot_vet_is_left_to_the_exporter_and_the_reply_goes_on(
    serve: Any, build_app: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spans = InMemorySpanExporter()
    telemetry = configure(spans)
    text = telemetry.scrubber.text

    def raising_on_the_span_name(value: str) -> str:
        if value == "live.event add_card":
            raise Broken("scrubber down")
        return text(value)

    monkeypatch.setattr(telemetry.scrubber, "text", raising_on_the_span_name)
    server = serve(build_app())
    with connect(f"{server.ws}/live-safe", additional_headers={"Cookie": "sid=abc"}) as ws:
        ws.send(envelope("add_card", EVENT_POISON, 1))
        assert json.loads(ws.recv())["lo"]["ok"] is True
        ws.send(envelope("move_card", EVENT_CLEAN, 2))
        assert json.loads(ws.recv())["lo"]["ok"] is True
    liveobs.sdk.shutdown()

    counts = _faults.fault_counts()
    # Vetted twice: the connection's check of the event's names, then the recorder's check of its span.
    assert counts[_faults.SCRUBBER] == 2
    assert not {"websocket receive", "live event end"} & set(counts)
    assert len(warnings_about(caplog, _faults.SCRUBBER)) == 1
    # Unvetted, the span goes to the exporter's own scrubbing, which fails too: lost and counted, not raw.
    names = [s.name for s in spans.get_finished_spans()]
    assert "live.event add_card" not in names
    assert "live.event move_card" in names
    assert counts[_faults.SPAN_EXPORT] == 1
