"""Joining a tracer provider the app made (in process, no globals): both exporters, the ids, one fingerprint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import liveobs.sdk
from liveobs.conventions import keys
from liveobs.sdk._build import Settings, build


@pytest.fixture
def joined() -> Any:
    theirs, ours = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "apps-own"}))
    provider.add_span_processor(SimpleSpanProcessor(theirs))
    telemetry = build(Settings("board-app", "1.4.2", span_exporter=ours, batch=False), join_tracer=provider)
    yield telemetry, provider, theirs, ours
    telemetry.shutdown()
    provider.shutdown()


def test_spans_of_another_instrumentation_inside_a_live_event_carry_its_ids_and_reach_both_exporters(
    joined: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    telemetry, provider, theirs, ours = joined
    monkeypatch.setattr("liveobs.sdk._live.current_telemetry", lambda: telemetry)
    other = provider.get_tracer("a.database.client")
    with liveobs.sdk.live_event("add_card", session_id="eph.abc") as event, other.start_as_current_span("SELECT"):
        pass
    mine = {s.name: s for s in ours.get_finished_spans()}
    assert set(mine) == {"live.event add_card", "SELECT"}
    select = mine["SELECT"]
    assert select.context.trace_id == mine["live.event add_card"].context.trace_id
    assert select.attributes[keys.EVENT_ID] == event.event_id
    assert select.attributes[keys.SESSION_ID] == "eph.abc"
    assert select.resource.attributes["service.name"] == "board-app"  # liveobs's export: liveobs's resource
    assert {s.name for s in theirs.get_finished_spans()} == {"live.event add_card", "SELECT"}
    assert {s.resource.attributes["service.name"] for s in theirs.get_finished_spans()} == {"apps-own"}


def test_an_enclosing_span_that_fails_with_the_events_exception_gets_its_fingerprint(
    joined: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    telemetry, provider, _, ours = joined
    monkeypatch.setattr("liveobs.sdk._live.current_telemetry", lambda: telemetry)
    outer = provider.get_tracer("a.framework")
    # The framework's span records the exception and re-raises it; it ends after the event's.
    with pytest.raises(KeyError), outer.start_as_current_span("WS /ws"), liveobs.sdk.live_event("sort"):
        raise KeyError("card")
    spans = {s.name: s for s in ours.get_finished_spans()}
    fingerprint = spans["live.event sort"].attributes[keys.ERROR_FINGERPRINT]
    assert spans["WS /ws"].status.status_code is trace.StatusCode.ERROR
    assert spans["WS /ws"].attributes[keys.ERROR_FINGERPRINT] == fingerprint


def test_after_shutdown_the_apps_provider_runs_on_without_liveobs_export(joined: Any) -> None:
    telemetry, provider, theirs, ours = joined
    telemetry.shutdown()
    with provider.get_tracer("x").start_as_current_span("later"):
        pass
    assert [s.name for s in theirs.get_finished_spans()] == ["later"]
    assert ours.get_finished_spans() == ()


class _Records(LogRecordExporter):
    def __init__(self) -> None:
        self.records: list[Any] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.records.extend(getattr(r, "log_record", r) for r in batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_the_apps_own_log_records_reach_liveobs_scrubbed_and_with_the_ids_of_the_event() -> None:
    theirs, ours = _Records(), _Records()
    provider = LoggerProvider(resource=Resource.create({"service.name": "apps-own"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(theirs))
    telemetry = build(Settings("board-app", log_exporter=ours, batch=False), join_logger=provider)
    try:
        with liveobs.sdk.bind_ids(event_id="ev-7", session_id="eph.abc"):
            provider.get_logger("a.framework").emit(body="token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5 refused")
    finally:
        telemetry.shutdown()
        provider.shutdown()
    assert len(ours.records) == 1
    mine = ours.records[0]
    assert "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5" not in str(mine.body)
    assert mine.attributes[keys.EVENT_ID] == "ev-7"
    assert mine.attributes[keys.SESSION_ID] == "eph.abc"
    assert len(theirs.records) == 1  # the app's own exporter keeps its record
