"""configure(), the structlog chain, live_event, session keys, health and dropped-item counting."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import liveobs.sdk
from liveobs.conventions import evidence, keys


def test_import_does_nothing_global() -> None:
    code = (
        "import structlog, liveobs.sdk\n"
        "from opentelemetry import trace\n"
        "print(structlog.is_configured(), type(trace.get_tracer_provider()).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "ProxyTracerProvider"]


def test_without_an_endpoint_nothing_is_exported_and_nothing_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    lines = io.StringIO()
    telemetry = liveobs.sdk.configure("quiet", log_file=lines, set_global=False, cache_logger=False)
    try:
        with liveobs.sdk.live_event("add_card") as event:
            structlog.get_logger().info("handled")
        assert event.span.get_span_context().is_valid
        assert json.loads(lines.getvalue())[keys.EVENT_ID] == event.event_id
        assert telemetry.tracer_provider._active_span_processor._span_processors == ()
    finally:
        liveobs.sdk.shutdown()


def test_configure_is_idempotent_and_reads_the_standard_endpoint_variable(
    monkeypatch: pytest.MonkeyPatch, receiver: Any
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    lines = io.StringIO()
    options: dict[str, Any] = {"log_file": lines, "set_global": False, "batch": False, "cache_logger": False}
    first = liveobs.sdk.configure("env-app", "2.0.0", "staging", **options)
    try:
        assert liveobs.sdk.configure("env-app", "2.0.0", "staging", **options) is first
        with first.tracer.start_as_current_span("work"):
            structlog.get_logger().info("working")
        first.force_flush()
        (span,) = receiver.spans_named("work")
        assert span["resource"][keys.SERVICE_NAME] == "env-app"
        assert span["resource"][keys.SERVICE_VERSION] == "2.0.0"
        assert span["resource"][keys.DEPLOYMENT_ENVIRONMENT] == "staging"
        (record,) = receiver.logs_with("working")
        assert record["span_id"] == span["span_id"]
    finally:
        liveobs.sdk.shutdown()


def test_users_compose_the_processors_by_name(receiver: Any) -> None:
    telemetry = liveobs.sdk.configure("own-structlog", endpoint=receiver.url, configure_structlog=False,
                                      set_global=False, batch=False)
    lines = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            liveobs.sdk.add_correlation_ids,
            liveobs.sdk.Redactor(),
            liveobs.sdk.LogBridge(telemetry.logger_provider, redacted=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(lines),
        cache_logger_on_first_use=False,
    )
    try:
        with liveobs.sdk.bind_ids(request_id="req-1", session_id="s.1"):
            structlog.get_logger().info("browser report", event_name=keys.BROWSER_ERROR_EVENT, api_key="abc123")
        telemetry.force_flush()
        line = json.loads(lines.getvalue())
        assert line[keys.REQUEST_ID] == "req-1"
        assert line["api_key"] == "[REDACTED:key]"
        (record,) = receiver.logs_with("browser report")
        assert record["event_name"] == keys.BROWSER_ERROR_EVENT
        assert record["attributes"][keys.SESSION_ID] == "s.1"
        assert record["attributes"]["api_key"] == "[REDACTED:key]"
    finally:
        structlog.reset_defaults()
        liveobs.sdk.shutdown()


def test_live_event_api_binds_ids_and_records_failures() -> None:
    spans = InMemorySpanExporter()
    liveobs.sdk.configure("neutral", span_exporter=spans, batch=False, set_global=False, log_file=io.StringIO())
    try:
        seen: list[Any] = []

        def handle() -> None:
            with liveobs.sdk.live_event("save", event_id="ev-1", seq=3, route_id="board.show") as event:
                seen.extend([liveobs.sdk.current_ids().event_id, liveobs.sdk.current_event() is event])
                raise KeyError("missing")

        with liveobs.sdk.bind_ids(session_id="s.1", connection_id="c-1"), pytest.raises(KeyError):
            handle()
        assert seen == ["ev-1", True]
        assert liveobs.sdk.current_ids().event_id is None
        (span,) = spans.get_finished_spans()
        attrs = dict(span.attributes or {})
        assert attrs[keys.EVENT_ID] == "ev-1"
        assert attrs[keys.SESSION_ID] == "s.1"
        assert attrs[keys.CONNECTION_ID] == "c-1"
        assert attrs[keys.ROUTE_ID] == "board.show"
        assert attrs[keys.EVENT_SEQ] == 3
        assert attrs[keys.ERROR_TYPE] == "KeyError"
        assert [e.name for e in span.events] == [keys.EXCEPTION_EVENT]
    finally:
        liveobs.sdk.shutdown()


def test_session_pseudonyms_survive_key_rotation() -> None:
    old = liveobs.sdk.SessionKeyRing({"k1": b"0123456789abcdef-old"})
    before = old.pseudonymise("session-cookie")
    ring = old.rotated("k2", b"0123456789abcdef-new")
    after = ring.pseudonymise("session-cookie")
    assert before.startswith("k1.")
    assert after.startswith("k2.")
    assert before != after
    assert "session-cookie" not in before + after
    assert ring.matches(before, "session-cookie")
    assert ring.matches(after, "session-cookie")
    assert not ring.matches(before, "another-session")
    with pytest.raises(ValueError, match="shorter"):
        liveobs.sdk.SessionKeyRing({"k": b"short"})


class _Stuck(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.FAILURE


def test_dropped_spans_are_counted_as_a_metric_and_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    reader = InMemoryMetricReader()
    telemetry = liveobs.sdk.configure("droppy", span_exporter=_Stuck(), metric_readers=[reader],
                                      set_global=False, log_file=io.StringIO())
    try:
        for i in range(5):
            telemetry.tracer.start_span(f"s{i}").end()
        telemetry.tracer_provider.force_flush()
        with caplog.at_level(logging.WARNING, logger="liveobs.sdk"):
            assert telemetry.drops.maybe_report(force=True)
        assert telemetry.drops.counts()["spans"] == 5
        assert "liveobs dropped telemetry: spans=5" in caplog.text
        data = reader.get_metrics_data()
        points = [
            (dict(p.attributes or {}), p.value)
            for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == evidence.METRIC_DROPPED for p in m.data.data_points  # type: ignore[union-attr]
        ]
        assert ({keys.TELEMETRY_SIGNAL: "spans"}, 5) in points
    finally:
        liveobs.sdk.shutdown()


def test_a_full_batch_queue_counts_what_it_drops() -> None:
    from liveobs.sdk._dropped import CountingBatchSpanProcessor, DropCounter

    drops = DropCounter()
    processor = CountingBatchSpanProcessor(InMemorySpanExporter(), drops, max_queue_size=4,
                                           schedule_delay_millis=60_000, max_export_batch_size=4)
    telemetry = liveobs.sdk.configure("queue", set_global=False, log_file=io.StringIO())
    telemetry.tracer_provider.add_span_processor(processor)
    try:
        # batch size equals queue size, so the worker is woken; end spans faster than it drains
        for i in range(50):
            telemetry.tracer.start_span(f"s{i}").end()
        processor.force_flush()
        exported = len(processor.span_exporter.exporter.get_finished_spans())  # type: ignore[attr-defined]
        assert exported + drops.counts()["spans"] == 50
    finally:
        liveobs.sdk.shutdown()


class _Held(SpanExporter):
    """Exports nothing until released: the batch worker is held up as behind a slow collector."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.release.wait(30)
        self.count += len(spans)
        return SpanExportResult.SUCCESS


@pytest.mark.parametrize(("variable", "dropped"), [(None, False), ("1000", True)])
def test_the_span_queue_holds_a_burst_while_the_export_worker_is_held_up(
        monkeypatch: pytest.MonkeyPatch, variable: str | None, dropped: bool) -> None:
    """8192 spans wait by default (OpenTelemetry's 2048 would drop most of this burst); the standard variable wins."""
    if variable is None:
        monkeypatch.delenv("OTEL_BSP_MAX_QUEUE_SIZE", raising=False)
    else:
        monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", variable)
    held = _Held()
    telemetry = liveobs.sdk.configure("burst", span_exporter=held, set_global=False, log_file=io.StringIO())
    try:
        for i in range(6000):
            telemetry.tracer.start_span(f"push {i}").end()
        held.release.set()
        telemetry.tracer_provider.force_flush()
        drops = telemetry.drops.counts()["spans"]
        assert held.count + drops == 6000
        assert (drops > 0) is dropped, drops
    finally:
        held.release.set()
        liveobs.sdk.shutdown()


def test_readiness_answers_by_status_code_and_as_health_json(configured: Any, serve: Any, build_app: Any) -> None:
    health = liveobs.sdk.Health(version="1.4.2", release_id="rel-7")
    state = {"db": True}
    health.add_check("db:connections", lambda: liveobs.sdk.CheckResult(
        "pass" if state["db"] else "fail", observed_value=3, observed_unit="connections"))
    server = serve(build_app(health=health))
    assert httpx.get(f"{server.http}/readyz").status_code == 200
    doc = httpx.get(f"{server.http}/live/readiness.json")
    assert doc.headers["content-type"] == "application/health+json"
    body = doc.json()
    assert body["status"] == "pass"
    assert body["version"] == "1.4.2"
    assert body["releaseId"] == "rel-7"
    assert body["checks"]["db:connections"][0]["observedValue"] == 3
    state["db"] = False
    assert httpx.get(f"{server.http}/readyz").status_code == 503
    assert httpx.get(f"{server.http}/live/readiness.json").json()["status"] == "fail"
    state["db"] = True
    health.drain()
    failing = httpx.get(f"{server.http}/live/readiness.json")
    assert failing.status_code == 503
    assert failing.json()["checks"]["app:draining"][0]["status"] == "fail"


def test_current_event_follows_nesting_and_ends_with_its_event() -> None:
    import contextvars

    liveobs.sdk.configure("nesting", span_exporter=InMemorySpanExporter(), batch=False, set_global=False,
                          log_file=io.StringIO())
    try:
        assert liveobs.sdk.current_event() is None
        with liveobs.sdk.live_event("outer", event_id="ev-outer") as outer:
            copied = contextvars.copy_context()  # what a task started inside the handler carries
            with liveobs.sdk.live_event("inner", event_id="ev-inner") as inner:
                assert liveobs.sdk.current_event() is inner
            assert liveobs.sdk.current_event() is outer
            assert copied.run(liveobs.sdk.current_event) is outer
        assert liveobs.sdk.current_event() is None
        assert copied.run(liveobs.sdk.current_event) is None  # the event is over, also for the task
        assert liveobs.sdk.error_reply(ValueError("x"))["lo"]["ok"] is False  # outside any event: class only
    finally:
        liveobs.sdk.shutdown()
