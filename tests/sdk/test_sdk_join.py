"""Joining a tracer provider the app made (in process, no globals): both exporters, the ids, one fingerprint."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
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
