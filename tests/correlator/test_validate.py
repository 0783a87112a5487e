"""Checking a request before acknowledging it: unreadable items are dropped alone and counted per signal."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from liveobs.correlator._logrecords import logs_table
from liveobs.correlator._otlp import (
    LOGS,
    METRICS,
    PROTOBUF,
    TRACES,
    MalformedBody,
    parse_request,
    response_body,
)
from liveobs.correlator._rawspans import raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table
from liveobs.correlator._validate import check_request

MARK = "BADUTF8MARK"


def _break_utf8(body: bytes) -> bytes:
    """Turn every occurrence of the marker into bytes that are not UTF-8 (same length)."""
    assert MARK.encode() in body
    return body.replace(MARK.encode(), b"\xff" * len(MARK))


def _logs(bodies: list[str]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for text in bodies:
        record = scope.log_records.add()
        record.body.string_value = text
        record.trace_id, record.span_id = b"\x01" * 16, b"\x02" * 8
    return request


def test_a_log_record_that_is_not_utf8_is_rejected_alone() -> None:
    body = _break_utf8(_logs(["fine one", MARK, "fine two"]).SerializeToString())
    checked = check_request(LOGS, body, PROTOBUF)
    assert (checked.items, checked.rejected) == (2, 1)
    assert [r.body.string_value for r in checked.message.resource_logs[0].scope_logs[0].log_records] == [
        "fine one", "fine two"]
    answer = ExportLogsServiceResponse.FromString(response_body(LOGS, PROTOBUF, checked.rejected, checked.reason))
    assert answer.partial_success.rejected_log_records == 1
    assert "1 log records could not be read" in answer.partial_success.error_message


def test_a_metric_that_is_not_utf8_rejects_its_data_points() -> None:
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    for name, points in (("ok.metric", 2), (MARK, 3)):
        metric = scope.metrics.add()
        metric.name = name
        for value in range(points):
            metric.gauge.data_points.add().as_int = value
    checked = check_request(METRICS, _break_utf8(request.SerializeToString()), PROTOBUF)
    assert (checked.items, checked.rejected) == (2, 3)
    answer = ExportMetricsServiceResponse.FromString(
        response_body(METRICS, PROTOBUF, checked.rejected, checked.reason))
    assert answer.partial_success.rejected_data_points == 3


def test_spans_with_malformed_ids_are_counted_with_the_unreadable_ones() -> None:
    request = sample_spans_request(6)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[1].trace_id = b"\x01" * 3
    spans[4].name = MARK
    checked = check_request(TRACES, _break_utf8(request.SerializeToString()), PROTOBUF)
    assert (checked.items, checked.rejected) == (4, 2)
    assert "1 spans could not be read" in checked.reason
    assert "1 spans had malformed trace or span ids" in checked.reason


@pytest.mark.parametrize(("field", "value"), [
    ("trace_id", b"\x01" * 3), ("trace_id", b""), ("span_id", b"\x02" * 9), ("span_id", b""),
    ("parent_span_id", b"\x03" * 3), ("parent_span_id", b""), ("parent_span_id", b"\x00" * 8),
])
def test_the_answer_counts_the_spans_the_converter_stores(field: str, value: bytes) -> None:
    request = sample_spans_request(5)
    setattr(request.resource_spans[0].scope_spans[0].spans[2], field, value)
    body = request.SerializeToString()
    checked = check_request(TRACES, body, PROTOBUF)
    converted = spans_table(raw_trace_request(body), IngestScrubber())
    assert (checked.items, checked.rejected) == (converted.accepted, converted.rejected)
    assert converted.accepted + converted.rejected == 5


@pytest.mark.parametrize(("field", "value"), [
    ("trace_id", b"\x01" * 3), ("trace_id", b""), ("span_id", b"\x02" * 9), ("span_id", b""),
])
def test_the_answer_counts_the_log_records_the_converter_stores(field: str, value: bytes) -> None:
    request = _logs(["one", "two", "three"])
    setattr(request.resource_logs[0].scope_logs[0].log_records[1], field, value)
    body = request.SerializeToString()
    checked = check_request(LOGS, body, PROTOBUF)
    converted = logs_table(parse_request(LOGS, body, PROTOBUF), IngestScrubber())
    assert (checked.items, checked.rejected) == (converted.accepted, converted.rejected)
    assert converted.accepted + converted.rejected == 3


@pytest.mark.parametrize("body", [b"\x0a\x05\x0a\x03", b"\x0b" * 4, _break_utf8(_logs([MARK]).SerializeToString())])
def test_a_body_with_broken_framing_or_nothing_readable_is_refused_whole(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        check_request(LOGS, body, PROTOBUF)
