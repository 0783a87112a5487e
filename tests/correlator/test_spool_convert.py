"""Trace conversion in a child process: the same rows as in the collector's own process, nothing lost when
the child dies, no process left behind."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.conventions import keys
from liveobs.correlator._correlation import Converted
from liveobs.correlator._db import connect
from liveobs.correlator._otlp import PROTOBUF, TRACES, ConversionFailed, MalformedBody
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table
from liveobs.correlator._spool import Spool
from liveobs.correlator._spoolconvert import decode_reply, encode_reply
from liveobs.correlator._spoolwriter import SpoolWriter
from liveobs.correlator._writer import WriteResult

# Every column of the tables a span batch writes, in a fixed order.
_TABLES = {
    "otel_traces": "SELECT * FROM otel_traces ORDER BY SpanId",
    "liveobs_correlation": "SELECT * FROM liveobs_correlation ORDER BY SpanId",
    # A row per trace per insert (inserts follow the timing), merged when read.
    "otel_traces_trace_id_ts": 'SELECT TraceId, min("Start"), max("End") FROM otel_traces_trace_id_ts'
                               " GROUP BY TraceId ORDER BY TraceId",
    "liveobs_errors": "SELECT * FROM liveobs_errors ORDER BY SpanId",
}


def _varied_request(seed: int) -> bytes:
    """Spans with what conversion has to get right: events (an exception), links, error status, repeated
    and non-string attributes, a secret to scrub, and a span with a malformed id (rejected)."""
    request = sample_spans_request(40)
    spans = request.resource_spans[0].scope_spans[0].spans
    for i, span in enumerate(spans):
        if i % 5 == 0:
            event = span.events.add()
            event.name, event.time_unix_nano = keys.EXCEPTION_EVENT, span.start_time_unix_nano + 10
            for key, value in ((keys.EXCEPTION_TYPE, f"KeyError{seed}"), (keys.EXCEPTION_MESSAGE, "no such cart")):
                attr = event.attributes.add()
                attr.key, attr.value.string_value = key, value
        if i % 7 == 0:
            span.status.code, span.status.message = 2, f"failed {i}"
            link = span.links.add()
            link.trace_id, link.span_id = os.urandom(16), os.urandom(8)
        attr = span.attributes.add()
        attr.key, attr.value.double_value = "cart.total", i / 4
        attr = span.attributes.add()
        attr.key, attr.value.string_value = "http.request.header.authorization", "Bearer abc.def.ghi"
        attr = span.attributes.add()  # a repeated key: the last value is kept
        attr.key, attr.value.string_value = keys.ROUTE_ID, f"cart.show.{i % 3}"
    spans[3].span_id = b"\x01\x02"
    return bytes(request.SerializeToString())


def _store(tmp_path: Path, name: str, bodies: list[bytes], *, convert_process: bool) -> dict[str, list[tuple]]:
    con = connect(tmp_path / f"{name}.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / f"{name}.spool"), convert_process=convert_process).start()
    try:
        results = [writer.write(TRACES, body) for body in bodies]
        assert writer.flush(timeout=60)
    finally:
        writer.close()
    assert results == [WriteResult(39, 1, message="1 spans had malformed trace or span ids")] * len(bodies)
    rows = {table: con.execute(sql).fetchall() for table, sql in _TABLES.items()}
    con.close()
    return rows


def test_the_conversion_process_stores_exactly_what_the_collector_would_convert_itself(tmp_path: Path) -> None:
    bodies = [_varied_request(seed) for seed in range(6)]
    here = _store(tmp_path, "here", bodies, convert_process=False)
    child = _store(tmp_path, "child", bodies, convert_process=True)
    assert len(here["otel_traces"]) == 6 * 39
    assert len(here["liveobs_errors"]) > 6
    assert "Bearer abc" not in repr(here["otel_traces"])
    assert child == here


def test_replies_carry_each_requests_tables_and_failures_in_order() -> None:
    scrubber = IngestScrubber()
    interner = AttributeInterner(scrubber)
    # Separately converted requests: each has its own dictionary of resource maps in one stream.
    first = spans_table(raw_trace_request(_varied_request(1)), scrubber, interner)
    second = spans_table(raw_trace_request(sample_spans_request(7).SerializeToString()), scrubber, interner)
    results: list[Converted | MalformedBody] = [first, MalformedBody("invalid span event"), second]
    frame = bytearray(b"".join(bytes(memoryview(p)) for p in encode_reply(results, 0.25)))
    back, cpu = decode_reply(frame)
    assert cpu == 0.25
    assert isinstance(back[1], MalformedBody)
    assert str(back[1]) == "invalid span event"
    for sent, got in ((first, back[0]), (second, back[2])):
        assert isinstance(got, Converted)
        assert got.rejected == sent.rejected
        assert got.accepted == sent.accepted
        assert set(got.tables) == set(sent.tables)
        for name, table in sent.tables.items():
            assert got.tables[name].equals(table)
        assert (got.span_error_candidates is None) == (sent.span_error_candidates is None)
    assert isinstance(back[0], Converted)
    assert back[0].span_error_candidates is not None
    assert first.span_error_candidates is not None
    assert back[0].span_error_candidates.equals(first.span_error_candidates)
    failed, _ = decode_reply(bytearray(b"".join(bytes(memoryview(p)) for p in encode_reply(
        [ConversionFailed("cannot convert the request: a bug")], 0.0))))
    assert isinstance(failed[0], ConversionFailed)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_conversion_process_loses_no_acknowledged_request_and_none_is_stored_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    con = connect(tmp_path / "k.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), convert_process=True).start()
    pid = writer.worker_pid
    assert pid is not None
    assert _alive(pid)
    span_ids: set[str] = set()
    try:
        with caplog.at_level(logging.ERROR, logger="liveobs.correlator.spool"):
            for n in range(60):
                request = sample_spans_request(200)
                span_ids.update(s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans)
                assert writer.write(TRACES, request.SerializeToString(), media=PROTOBUF).accepted == 200
                if n == 20:
                    os.kill(pid, signal.SIGKILL)
            assert writer.flush(timeout=60)
        assert writer.worker_pid is None
        assert "the conversion process failed" in caplog.text
    finally:
        writer.close()
    stored = con.execute("SELECT SpanId FROM otel_traces").fetchall()
    con.close()
    assert len(stored) == len(span_ids) == 60 * 200
    assert {s for (s,) in stored} == span_ids


def test_closing_the_writer_ends_the_conversion_process(tmp_path: Path) -> None:
    con = connect(tmp_path / "c.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), convert_process=True).start()
    pid = writer.worker_pid
    assert pid is not None
    writer.write(TRACES, sample_spans_request(10).SerializeToString())
    writer.close()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (10,)
    con.close()


def test_a_custom_scrubber_keeps_conversion_in_the_collectors_process(tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), scrubber=IngestScrubber(), convert_process=True).start()
    try:
        assert writer.worker_pid is None
        assert writer.write(TRACES, ExportTraceServiceRequest().SerializeToString()) == WriteResult(0, 0)
    finally:
        writer.close()
    con.close()


def test_decode_reply_reads_zero_row_tables() -> None:
    empty = spans_table(raw_trace_request(b""), IngestScrubber())
    assert empty.tables["otel_traces"].num_rows == 0
    back, _ = decode_reply(bytearray(b"".join(bytes(memoryview(p)) for p in encode_reply([empty], 0.0))))
    assert isinstance(back[0], Converted)
    assert back[0].tables["otel_traces"].schema == empty.tables["otel_traces"].schema
    assert isinstance(back[0].tables["otel_traces"], pa.Table)
    assert back[0].accepted == 0
