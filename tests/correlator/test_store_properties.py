"""Property tests: any well-formed OTLP request converts and commits, every item counted once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.correlator._db import connect
from liveobs.correlator._otlp import LOGS, METRICS, TRACES
from liveobs.correlator._writer import Writer

TEXT = st.text(max_size=30)
KEYS = st.sampled_from(["session.id", "liveobs.event.id", "error.type", "password", "note", "n", "k"]) | TEXT
SCALAR = st.one_of(TEXT.map(lambda v: ("string_value", v)), st.booleans().map(lambda v: ("bool_value", v)),
                   st.integers(-(2**63), 2**63 - 1).map(lambda v: ("int_value", v)),
                   st.floats(allow_nan=False).map(lambda v: ("double_value", v)),
                   st.binary(max_size=8).map(lambda v: ("bytes_value", v)))
ATTRS = st.lists(st.tuples(KEYS, SCALAR | st.lists(SCALAR, max_size=3).map(lambda v: ("array", v))), max_size=6)
TIME = st.integers(0, 2**64 - 1)


def _fill(target, attrs) -> None:
    for key, (kind, value) in attrs:
        kv = target.add()
        kv.key = key
        if kind == "array":
            for inner_kind, inner in value:
                setattr(kv.value.array_value.values.add(), inner_kind, inner)
        else:
            setattr(kv.value, kind, value)


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory):
    con = connect(Path(tmp_path_factory.mktemp("props")) / "p.duckdb")
    running = Writer(con).start()
    yield running
    running.close()
    con.close()


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(spans=st.lists(st.tuples(ATTRS, TIME, TIME, st.integers(0, 9), st.integers(0, 5), st.lists(ATTRS, max_size=2),
                                st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8)), max_size=8),
       resource=ATTRS)
def test_any_span_request_commits(writer, spans, resource) -> None:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    _fill(rs.resource.attributes, resource)
    scope = rs.scope_spans.add()
    for attrs, start, end, kind, status, events, trace_id, span_id in spans:
        span = scope.spans.add()
        span.trace_id, span.span_id = trace_id, span_id
        span.start_time_unix_nano, span.end_time_unix_nano = start, end
        span.kind = kind
        span.status.code = status
        _fill(span.attributes, attrs)
        for event_attrs in events:
            event = span.events.add()
            event.name = "exception"
            _fill(event.attributes, event_attrs)
        link = span.links.add()
        link.trace_id = trace_id
        _fill(link.attributes, attrs)
    result = writer.write(TRACES, request)
    assert (result.accepted, result.rejected) == (len(spans), 0)


@SETTINGS
@given(records=st.lists(st.tuples(ATTRS, TIME, st.integers(0, 30), SCALAR, TEXT), max_size=8))
def test_any_log_request_commits(writer, records) -> None:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for attrs, when, severity, (kind, body), event_name in records:
        record = scope.log_records.add()
        record.time_unix_nano = when
        record.severity_number = severity  # type: ignore[assignment]
        setattr(record.body, kind, body)
        record.event_name = event_name
        _fill(record.attributes, attrs)
    assert writer.write(LOGS, request).accepted == len(records)


@SETTINGS
@given(metrics=st.lists(st.tuples(st.sampled_from(["gauge", "sum", "histogram", "exponential_histogram", "summary"]),
                                  ATTRS, TIME, st.integers(0, 2**64 - 1)), max_size=6))
def test_any_metric_request_commits(writer, metrics) -> None:
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    for kind, attrs, when, count in metrics:
        metric = scope.metrics.add()
        metric.name = kind
        point = getattr(metric, kind).data_points.add()
        point.time_unix_nano = when
        _fill(point.attributes, attrs)
        if kind in ("gauge", "sum"):
            point.as_int = count % 2**63
            exemplar = point.exemplars.add()
            exemplar.as_double = 1.0
            _fill(exemplar.filtered_attributes, attrs)
        else:
            point.count = count
    assert writer.write(METRICS, request).accepted == len(metrics)
