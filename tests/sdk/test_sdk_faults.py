"""Fault injection: a failure inside liveobs degrades telemetry, is counted and warned about once, and the app goes on.

Each test runs the board app under a real uvicorn server (HTTP requests, live
events, a failing live event) with one part broken: an exporter that raises,
a span or log record processor that raises, an internal the compatibility
layer reports missing or that breaks after detection, a scrubber that raises.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.sync.client import connect

import liveobs.sdk
from liveobs.conventions import evidence, keys
from liveobs.sdk import _compat, _faults, _span

EVENTS = [f"018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a{i:02x}" for i in range(6)]


class Broken(Exception):
    """What the injected faults raise."""


class RaisingSpanExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise Broken("span exporter down")


class RaisingLogExporter(LogRecordExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.calls += 1
        raise Broken("log exporter down")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class LogRecords(LogRecordExporter):
    def __init__(self) -> None:
        self.records: list[Any] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class RaisingSpanProcessor(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise Broken("on_start")

    def on_end(self, span: ReadableSpan) -> None:
        raise Broken("on_end")


class RaisingLogProcessor(LogRecordProcessor):
    def on_emit(self, log_record: Any) -> None:
        raise Broken("on_emit")

    def emit(self, log_record: Any) -> None:  # the name before 1.40
        raise Broken("emit")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@pytest.fixture(autouse=True)
def fresh_faults() -> Iterator[None]:
    _faults.reset_faults()
    _span._modes.clear()
    yield
    _faults.reset_faults()
    _span._modes.clear()
    _compat.detect(again=True)
    liveobs.sdk.shutdown()


def configure(**kwargs: Any) -> liveobs.sdk.Telemetry:
    kwargs.setdefault("span_exporter", InMemorySpanExporter())
    kwargs.setdefault("log_exporter", LogRecords())
    return liveobs.sdk.configure("faulty-app", "1.0.0", "test", metric_readers=[InMemoryMetricReader()],
                                 log_file=io.StringIO(), cache_logger=False, set_global=False, **kwargs)


def run_app(serve: Any, build_app: Any, envelope: Any) -> None:
    """Two page requests and three live events (one failing); every one of them must succeed."""
    import httpx

    server = serve(build_app())
    for board in ("1", "2"):
        page = httpx.get(f"{server.http}/board/{board}", cookies={"sid": "abc"})
        assert page.status_code == 200
    with connect(f"{server.ws}/live-safe", additional_headers={"Cookie": "sid=abc"}) as ws:
        ws.send(envelope("add_card", EVENTS[0], 1))
        assert json.loads(ws.recv())["lo"]["ok"] is True
        ws.send(envelope("fail", EVENTS[1], 2))
        failed = json.loads(ws.recv())
        assert failed["lo"]["ok"] is False
        assert failed["lo"]["error_class"] == "LookupError"
        ws.send(envelope("move_card", EVENTS[2], 3))
        assert json.loads(ws.recv())["lo"]["ok"] is True


def warnings_about(caplog: pytest.LogCaptureFixture, part: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "liveobs.sdk" and r.getMessage().startswith(f"liveobs telemetry degraded: {part} ")]


@pytest.mark.parametrize("batch", [True, False])
def test_exporters_that_raise_lose_their_batches_counted_and_the_app_goes_on(
    serve: Any, build_app: Any, envelope: Any, caplog: pytest.LogCaptureFixture, batch: bool
) -> None:
    spans, logs = RaisingSpanExporter(), RaisingLogExporter()
    telemetry = configure(span_exporter=spans, log_exporter=logs, batch=batch)
    run_app(serve, build_app, envelope)
    telemetry.force_flush()
    assert spans.calls > 0
    assert logs.calls > 0
    counts = _faults.fault_counts()
    assert counts[_faults.SPAN_EXPORT] == spans.calls
    assert counts[_faults.LOG_EXPORT] == logs.calls
    dropped = telemetry.drops.counts()
    assert dropped["spans"] >= 5  # two requests, the connection, three events: every one lost is counted
    assert dropped["logs"] >= 2
    assert len(warnings_about(caplog, _faults.SPAN_EXPORT)) == 1
    assert len(warnings_about(caplog, _faults.LOG_EXPORT)) == 1


def test_processors_that_raise_are_counted_and_the_others_still_export(
    serve: Any, build_app: Any, envelope: Any, caplog: pytest.LogCaptureFixture
) -> None:
    spans, logs = InMemorySpanExporter(), LogRecords()
    telemetry = configure(span_exporter=spans, log_exporter=logs, batch=False)
    telemetry.tracer_provider.add_span_processor(RaisingSpanProcessor())
    telemetry.logger_provider.add_log_record_processor(RaisingLogProcessor())
    run_app(serve, build_app, envelope)
    telemetry.force_flush()
    names = [s.name for s in spans.get_finished_spans()]
    assert {"live.event add_card", "live.event fail", "live.event move_card"} <= set(names)
    assert [r for r in logs.records if r.log_record.body == "page rendered"]
    counts = _faults.fault_counts()
    assert counts[_faults.SPAN_PROCESSOR] >= 2 * 4  # on_start and on_end of each lean span
    assert counts[_faults.LOG_BRIDGE] >= 3
    assert len(warnings_about(caplog, _faults.SPAN_PROCESSOR)) == 1
    assert len(warnings_about(caplog, _faults.LOG_BRIDGE)) == 1


def test_with_every_internal_reported_missing_the_public_paths_give_the_same_telemetry(
    serve: Any, build_app: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_compat, "_detected", _compat.Features())  # nothing private is used
    spans, logs, reader = InMemorySpanExporter(), LogRecords(), InMemoryMetricReader()
    telemetry = liveobs.sdk.configure("faulty-app", "1.0.0", "test", span_exporter=spans, log_exporter=logs,
                                      metric_readers=[reader], log_file=io.StringIO(), cache_logger=False,
                                      set_global=False)
    assert not _span.lean_tracer(telemetry.tracer)
    run_app(serve, build_app, envelope)
    telemetry.force_flush()
    ended = {s.name: s for s in spans.get_finished_spans()}
    failed = ended["live.event fail"]
    assert failed.attributes is not None
    assert failed.attributes[keys.ERROR_TYPE] == "LookupError"
    rendered = [r for r in logs.records if r.log_record.body == "page rendered"]
    assert len(rendered) == 2
    traces = {s.context.trace_id for s in spans.get_finished_spans() if s.context is not None}
    assert {r.log_record.trace_id for r in rendered} <= traces
    data = reader.get_metrics_data()
    assert data is not None
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert evidence.METRIC_EVENT_DURATION in names  # through the SDK's own histograms
    assert _faults.fault_counts() == {}  # a missing internal is not a failure: the public path is the design


def test_a_probe_that_raises_counts_as_missing_and_warns_once(
    serve: Any, build_app: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def changed() -> bool:
        raise AttributeError("'Tracer' object has no attribute '_span_limits'")

    monkeypatch.setitem(_compat._PROBES, "lean_tracer", changed)  # type: ignore[index]
    found = _compat.detect(again=True)
    _compat.detect(again=True)
    assert not found.lean_tracer
    assert found.fill_span  # the other internals are still used
    spans = InMemorySpanExporter()
    configure(span_exporter=spans, batch=False)
    run_app(serve, build_app, envelope)
    assert "live.event fail" in {s.name for s in spans.get_finished_spans()}
    assert _faults.fault_counts() == {_faults.COMPAT: 2}
    assert len(warnings_about(caplog, _faults.COMPAT)) == 1


def test_an_internal_that_breaks_after_detection_turns_the_lean_path_off(
    serve: Any, build_app: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spans = InMemorySpanExporter()
    telemetry = configure(span_exporter=spans, batch=False)
    assert _span.lean_tracer(telemetry.tracer)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("readable_span() got an unexpected keyword argument")

    monkeypatch.setattr(_compat, "readable_span", broken)  # an SDK whose ReadableSpan changed under us
    run_app(serve, build_app, envelope)
    assert not _span.lean_tracer(telemetry.tracer)  # off for good: the SDK's spans from now on
    names = [s.name for s in spans.get_finished_spans()]
    assert "live.event move_card" in names  # the events after the first failure are SDK spans, exported
    assert _faults.fault_counts()[_faults.SPAN] == 1
    assert len(warnings_about(caplog, _faults.SPAN)) == 1


def test_a_scrubber_that_raises_withholds_the_lines_and_loses_the_batches_but_never_the_app(
    serve: Any, build_app: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spans, logs, lines = InMemorySpanExporter(), LogRecords(), io.StringIO()
    telemetry = liveobs.sdk.configure("faulty-app", "1.0.0", "test", span_exporter=spans, log_exporter=logs,
                                      metric_readers=[InMemoryMetricReader()], log_file=lines, cache_logger=False,
                                      set_global=False, batch=False)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise Broken("scrubber down")

    # What the log chain and the span exporter's redaction call (the middleware's own id checks use text()).
    monkeypatch.setattr(telemetry.scrubber, "value", broken)
    monkeypatch.setattr(telemetry.scrubber, "mapping", broken)
    run_app(serve, build_app, envelope)
    written = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert written
    assert all(set(line) <= {"event", "level", "timestamp"} for line in written)  # nothing unscrubbed
    assert all(line["event"].startswith("liveobs: log line withheld") for line in written)
    counts = _faults.fault_counts()
    assert counts[_faults.LOG_CHAIN] == len(written)
    assert len(warnings_about(caplog, _faults.LOG_CHAIN)) == 1
    # The failing event's span has an exception event to scrub: its export fails, counted, the rest export.
    names = [s.name for s in spans.get_finished_spans()]
    assert "live.event fail" not in names
    assert "live.event move_card" in names
    assert counts[_faults.SPAN_EXPORT] >= 1
    assert telemetry.drops.counts()["spans"] == counts[_faults.SPAN_EXPORT]


def test_a_broken_histogram_record_is_counted_not_raised() -> None:
    telemetry = configure()
    histogram = telemetry.instruments.event_duration
    histogram.record(3.0, {"route": ["not", "hashable"]})  # type: ignore[dict-item]
    histogram.record(4.0, {keys.HTTP_ROUTE: "/x"})
    assert _faults.fault_counts() == {_faults.HISTOGRAM: 1}


def test_one_warning_per_part_however_many_faults(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="liveobs.sdk"):
        for _ in range(50):
            _faults.fault(_faults.SPAN_EXPORT, Broken("x"))
        _faults.fault(_faults.LOG_EXPORT, "y")
    assert _faults.fault_counts() == {_faults.SPAN_EXPORT: 50, _faults.LOG_EXPORT: 1}
    assert len(warnings_about(caplog, _faults.SPAN_EXPORT)) == 1
    assert len(warnings_about(caplog, _faults.LOG_EXPORT)) == 1
    assert dataclasses.is_dataclass(_compat.features())


def test_a_batch_queue_that_changed_after_detection_falls_back_to_the_sdk_on_end(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind

    from liveobs.sdk._dropped import CountingBatchSpanProcessor, DropCounter

    exporter = InMemorySpanExporter()
    processor = CountingBatchSpanProcessor(exporter, DropCounter())
    assert processor._queue_span is not None  # the fast path is in use on this release

    def changed(item: Any) -> None:
        raise AttributeError("'BatchProcessor' object has no attribute '_worker_awaken'")

    monkeypatch.setattr(processor, "_queue_span", changed)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("x")
    for name in ("first", "second"):
        _span.start_span(tracer, name, context=None, kind=SpanKind.INTERNAL, attributes={}).end()
    processor.force_flush()
    assert [s.name for s in exporter.get_finished_spans()] == ["first", "second"]  # nothing lost
    assert processor._queue_span is None
    assert _faults.fault_counts() == {_faults.SPAN_PROCESSOR: 1}
    assert len(warnings_about(caplog, _faults.SPAN_PROCESSOR)) == 1
    provider.shutdown()


def test_a_direct_log_queue_that_fails_hands_the_record_to_logger_emit(caplog: pytest.LogCaptureFixture) -> None:
    import structlog

    logs = LogRecords()
    telemetry = configure(log_exporter=logs)
    assert telemetry.logger_provider.direct is not None  # type: ignore[attr-defined]

    def changed(record: Any) -> None:
        raise AttributeError("'BatchProcessor' object has no attribute '_queue'")

    telemetry.logger_provider.direct = changed  # type: ignore[attr-defined]
    log = structlog.get_logger("x")
    log.info("first")
    log.info("second")
    telemetry.force_flush()
    assert [r.log_record.body for r in logs.records] == ["first", "second"]  # nothing lost
    assert telemetry.logger_provider.direct is None  # type: ignore[attr-defined]
    assert _faults.fault_counts() == {_faults.LOG_BRIDGE: 1}
    assert len(warnings_about(caplog, _faults.LOG_BRIDGE)) == 1


def test_a_reader_added_later_that_cannot_be_hooked_is_told_about_not_silent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    telemetry = configure()
    monkeypatch.setattr(_compat, "_detected", dataclasses.replace(_compat.features(), collect_hook=False))
    late = InMemoryMetricReader()
    if not hasattr(type(telemetry.meter_provider).__mro__[1], "add_metric_reader"):  # before 1.43: no such call
        with pytest.raises(AttributeError, match="configure"):
            telemetry.meter_provider.add_metric_reader(late)
        return
    telemetry.meter_provider.add_metric_reader(late)
    assert _faults.fault_counts() == {_faults.HISTOGRAM: 1}
    (message,) = warnings_about(caplog, _faults.HISTOGRAM)
    assert "InMemoryMetricReader cannot collect the 5 liveobs histograms" in message
