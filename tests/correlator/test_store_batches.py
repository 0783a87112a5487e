"""Trace requests converted together (``spans_tables``) give each request exactly what it gets alone."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.conventions import keys
from liveobs.correlator._db import connect
from liveobs.correlator._otlp import TRACES, MalformedBody
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table, spans_tables
from liveobs.correlator._writer import Writer, WriteResult
from tests.correlator.answers import answers


def _request(n: int, *, errors: bool = False, ids: bool = True, bad_ids: int = 0) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in ((keys.SERVICE_NAME, f"svc{n}"), (keys.SERVICE_VERSION, f"{n}.0")):
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = key, value
    ss = rs.scope_spans.add()
    for i in range(5 + bad_ids):
        span = ss.spans.add()
        span.trace_id = bytes([n + 1]) * 16 if i >= bad_ids else b"short"
        span.span_id = bytes([n + 1, i + 1]) * 4
        span.start_time_unix_nano = 1_000 * i
        span.end_time_unix_nano = 1_000 * i + 10
        if ids and i % 2:
            kv = span.attributes.add()
            kv.key, kv.value.string_value = keys.EVENT_ID, f"ev-{n}-{i}"
        if errors and i == 3:
            span.status.code = 2
            kv = span.attributes.add()
            kv.key, kv.value.string_value = keys.ERROR_TYPE, "CartError"
    return request


def _rows(table) -> list[dict[str, object]] | None:
    return None if table is None else table.to_pylist()


def test_each_request_of_a_batch_gets_the_rows_ids_errors_and_rejections_it_gets_alone() -> None:
    requests = [_request(0, errors=True), _request(1, ids=False), _request(2, bad_ids=2), _request(3, errors=True)]
    scrubber = IngestScrubber()
    alone = [spans_table(raw_trace_request(r), scrubber, AttributeInterner(scrubber)) for r in requests]
    together = spans_tables([raw_trace_request(r) for r in requests], scrubber, AttributeInterner(scrubber))
    assert len(together) == len(alone)
    for one, part in zip(alone, together, strict=True):
        assert (part.accepted, part.rejected) == (one.accepted, one.rejected)
        assert sorted(part.tables) == sorted(one.tables)
        for name, table in one.tables.items():
            assert _rows(part.tables[name]) == _rows(table)
        assert _rows(part.span_error_candidates) == _rows(one.span_error_candidates)
    assert together[2].rejected == 2
    assert "liveobs_correlation" not in together[1].tables
    assert together[1].span_error_candidates is None


def test_a_request_that_fails_inside_a_batch_loses_only_its_bad_span(tmp_path: Path) -> None:
    con = connect(tmp_path / "b.duckdb")
    writer = Writer(con)
    bad = raw_trace_request(sample_spans_request(3))
    bad.resource_spans[0].scope_spans[0].spans[1].events.append(b"\xff\xff")  # parses as a request, not as an event
    payloads = [sample_spans_request(50).SerializeToString() for _ in range(6)]
    payloads.insert(3, bad.SerializeToString())
    try:  # queued before the writer starts: the converter finds them waiting together
        results = answers(writer, TRACES, payloads, start=writer.start)
    finally:
        writer.close()
    # The bad request keeps its two good spans and rejects the third; the others are not affected.
    assert not any(isinstance(r, MalformedBody) for r in results)
    assert sorted((r.accepted, r.rejected) for r in results if isinstance(r, WriteResult)) == [(2, 1)] + [(50, 0)] * 6
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (302,)
    assert con.execute("SELECT count(*) FROM otel_traces_trace_id_ts").fetchone() == (6 * 13 + 1,)  # 50 spans: 13 traces
    # CPU seconds are counted beside wall seconds, and never exceed them.
    stats = writer.stats
    assert 0 < stats.convert_cpu_seconds <= stats.convert_seconds + 0.01
    assert 0 < stats.commit_cpu_seconds <= stats.commit_seconds + 0.01
    con.close()
