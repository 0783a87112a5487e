"""``LiveObsChain`` gives the same JSON line and the same OTel record as the processors it fuses."""

from __future__ import annotations

import decimal
import io
import json
import pathlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace import TracerProvider

import liveobs.sdk
from liveobs.conventions import keys
from liveobs.sdk._dropped import CountingBatchLogRecordProcessor, DropCounter
from liveobs.sdk._logbridge import BridgedLoggerProvider

SECRETS = [row[1] for row in json.loads(
    (pathlib.Path(__file__).parent / "secret_corpus.json").read_text())["secrets"]]
TRACER = TracerProvider().get_tracer("chain")

KEYS = st.sampled_from([
    "action", "count", "password", "api_token", "note", "event_name", keys.EVENT_ID, keys.SESSION_ID,
    keys.ROUTE_ID, "level", "timestamp", "trace_id", "tags", "payload",
])
SCALARS = st.one_of(
    st.text(max_size=40), st.sampled_from(SECRETS), st.integers(), st.floats(allow_nan=False), st.booleans(),
    st.none(), st.just("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
)
VALUES = st.one_of(
    SCALARS, st.lists(st.one_of(st.text(max_size=10), st.sampled_from(SECRETS)), max_size=3),
    st.dictionaries(st.sampled_from(["token", "x", "url"]), SCALARS, max_size=2),
    st.builds(lambda s: json.dumps({"auth": s}), st.sampled_from(SECRETS)),
    st.just(decimal.Decimal("1.5")),  # no JSON type: the renderer's fallback
)


class _Pipeline:
    """A logger over ``processors`` whose lines and bridged records are kept."""

    def __init__(self, fused: bool) -> None:
        self.exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # untyped upstream
        self.provider = BridgedLoggerProvider(shutdown_on_exit=False)
        self.processor = CountingBatchLogRecordProcessor(self.exporter, DropCounter())
        self.provider.add_log_record_processor(self.processor)
        sink = self.processor.direct_sink()
        assert sink is not None
        self.provider.feed_directly(sink)
        bridge = liveobs.sdk.LogBridge(self.provider, redacted=True)
        processors = [liveobs.sdk.LiveObsChain(bridge=bridge)] if fused else \
            liveobs.sdk.liveobs_processors(bridge=bridge)
        self.out = io.StringIO()
        self.log = structlog.wrap_logger(structlog.WriteLogger(self.out), processors=processors)

    def results(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        self.processor.force_flush()
        self.provider.shutdown()
        lines = [json.loads(line) for line in self.out.getvalue().split("\n")[:-1]]  # one object per "\n"
        for line in lines:
            assert line.pop("timestamp").endswith("Z")
        records = [{
            "body": r.log_record.body, "severity": (r.log_record.severity_number, r.log_record.severity_text),
            "attributes": dict(r.log_record.attributes or {}), "event_name": r.log_record.event_name,
            "trace": (r.log_record.trace_id, r.log_record.span_id, r.log_record.trace_flags),
            "scope": r.instrumentation_scope, "resource": dict(r.resource.attributes),
            "stamped": r.log_record.timestamp == r.log_record.observed_timestamp > 0,
        } for r in self.exporter.get_finished_logs()]
        return lines, records


@contextmanager
def _situation(ids: bool, span: bool, bound: dict[str, Any]) -> Iterator[None]:
    with ExitStack() as stack:
        if ids:
            stack.enter_context(liveobs.sdk.bind_ids(
                event_id="01J0000000000000000000000B", session_id="k1.3f2a9c1b7d4e6f8a", route_id="/board/{id}"))
        if span:
            stack.enter_context(trace.use_span(TRACER.start_span("handler"), end_on_exit=True))
        if bound:
            structlog.contextvars.bind_contextvars(**bound)
            stack.callback(structlog.contextvars.clear_contextvars)
        yield


def _log_both(calls: list[tuple[str, str, dict[str, Any]]], ids: bool, span: bool, bound: dict[str, Any]) -> Any:
    composed, fused = _Pipeline(fused=False), _Pipeline(fused=True)
    with _situation(ids, span, bound):
        for method, message, fields in calls:
            getattr(composed.log, method)(message, **fields)
            getattr(fused.log, method)(message, **fields)
    return composed.results(), fused.results()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=st.lists(st.tuples(
        st.sampled_from(["info", "warning", "warn", "error", "debug", "critical", "msg"]),
        st.one_of(st.text(max_size=30), st.sampled_from(SECRETS)),
        st.dictionaries(KEYS, VALUES, max_size=5),
    ), min_size=1, max_size=3),
    ids=st.booleans(), span=st.booleans(),
    bound=st.dictionaries(st.sampled_from(["user", "tenant", "password"]), SCALARS, max_size=2),
)
def test_the_fused_chain_writes_the_lines_and_records_of_the_composed_chain(
    calls: list[tuple[str, str, dict[str, Any]]], ids: bool, span: bool, bound: dict[str, Any]
) -> None:
    (lines, records), (fused_lines, fused_records) = _log_both(calls, ids, span, bound)
    assert fused_lines == lines
    assert fused_records == records
    assert len(fused_records) == len(calls)


def test_the_fused_chain_renders_exceptions_and_scrubs_their_text() -> None:
    composed, fused = _Pipeline(fused=False), _Pipeline(fused=True)
    secret = "postgres://admin:hunter2-very-secret@db.internal:5432/app"
    for pipeline in (composed, fused):
        try:
            raise ValueError(f"cannot connect to {secret}")
        except ValueError:
            pipeline.log.exception("save failed", card=7)
    (lines, records), (fused_lines, fused_records) = composed.results(), fused.results()
    assert fused_lines == lines
    assert fused_records == records
    (line,) = fused_lines
    assert line["level"] == "error"
    assert "ValueError" in line["exception"]
    assert "hunter2" not in json.dumps(fused_lines) + repr(fused_records)


def test_the_fused_chain_takes_ids_the_call_passes_over_the_context_and_scrubs_them() -> None:
    pipeline = _Pipeline(fused=True)
    with liveobs.sdk.bind_ids(event_id="01J0000000000000000000000B", session_id="k1.0a0b"):
        pipeline.log.info("moved", **{keys.SESSION_ID: "password=hunter2-hunter2"})
    with liveobs.sdk.bind_ids(session_id="Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"):
        pipeline.log.info("bound a secret as an id")
    (first, second), (first_record, second_record) = pipeline.results()
    assert first[keys.EVENT_ID] == "01J0000000000000000000000B"
    assert "hunter2" not in json.dumps(first) + repr(first_record)
    assert "eyJhbGciOiJIUzI1NiJ9" not in json.dumps(second) + repr(second_record)
    assert second[keys.SESSION_ID] == second_record["attributes"][keys.SESSION_ID] != ""


def test_a_pending_record_is_built_alike_with_and_without_the_constructor_shortcut(monkeypatch: Any) -> None:
    import dataclasses

    from opentelemetry._logs import SeverityNumber
    from opentelemetry.sdk._logs import LogRecordLimits
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from liveobs.sdk import _compat, _logbridge

    span = TRACER.start_span("s").get_span_context()
    origin = (Resource.create({"service.name": "x"}), InstrumentationScope("scope"), LogRecordLimits())
    pending = (17, SeverityNumber.WARN, "WARN", "body", {"a": 1}, "browser.action", span, origin)

    def fields(direct: bool, batch: bool = False) -> dict[str, Any]:
        monkeypatch.setattr(_compat, "_detected", dataclasses.replace(found, fill_log_record=direct))
        readable = _logbridge.materialize_all([pending])[0] if batch else _logbridge.materialize(pending)
        return {**vars(readable.log_record), "context": dict(readable.log_record.context or {}),
                "resource": readable.resource, "scope": readable.instrumentation_scope, "limits": readable.limits}

    found = _compat.detect()
    assert found.fill_log_record  # the SDK installed here has the plain record classes
    built, constructed = fields(True), fields(False)
    assert built == constructed
    assert fields(True, batch=True) == fields(False, batch=True) == built  # a batch is built alike
    assert (built["trace_id"], built["span_id"], built["timestamp"]) == (span.trace_id, span.span_id, 17)


def test_ids_vetted_by_another_scrubber_are_checked_again() -> None:
    token = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    chain_scrubber = liveobs.sdk.FastScrubber()
    pipeline = _Pipeline(fused=True)
    pipeline.log = structlog.wrap_logger(structlog.WriteLogger(pipeline.out), processors=[
        liveobs.sdk.LiveObsChain(chain_scrubber, liveobs.sdk.LogBridge(pipeline.provider, redacted=True))])
    from liveobs.sdk._context import reset_ids, set_ids

    for vetted_by in (None, liveobs.sdk.FastScrubber()):
        token_ = set_ids(liveobs.sdk.LiveIds(session_id=token, vetted_by=vetted_by))
        try:
            pipeline.log.info("x")
        finally:
            reset_ids(token_)
    lines, records = pipeline.results()
    assert token not in json.dumps(lines) + repr(records)
