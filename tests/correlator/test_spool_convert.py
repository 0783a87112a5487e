"""Trace and log conversion in a child process: the same rows as in the collector's own process, nothing
lost when the child dies, no process left behind; small requests converted many at a time."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.conventions import keys
from liveobs.correlator._correlation import Converted
from liveobs.correlator._db import connect
from liveobs.correlator._logrecords import logs_table, logs_tables
from liveobs.correlator._otlp import LOGS, PROTOBUF, TRACES, ConversionFailed, MalformedBody
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table
from liveobs.correlator._spool import Spool
from liveobs.correlator._spoolconvert import decode_reply, encode_reply
from liveobs.correlator._spoolwriter import SpoolWriter
from liveobs.correlator._writer import Writer, WriteResult

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


def _log_request(n: int, *, records: int = 1) -> ExportLogsServiceRequest:
    """``records`` log records of one live event; every third an error, every seventh with a malformed trace id."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    attr = rl.resource.attributes.add()
    attr.key, attr.value.string_value = keys.SERVICE_NAME, "shop"
    sl = rl.scope_logs.add()
    sl.scope.name = "liveobs.sdk"
    for i in range(records):
        record = sl.log_records.add()
        record.time_unix_nano = time.time_ns()
        record.body.string_value = f"live event {n}.{i} handled"
        record.trace_id, record.span_id = os.urandom(16), os.urandom(8)
        for key, value in ((keys.EVENT_ID, f"{n:08x}{i:08x}"), (keys.SESSION_ID, "s1")):
            a = record.attributes.add()
            a.key, a.value.string_value = key, value
        if (n + i) % 3 == 0:
            a = record.attributes.add()
            a.key, a.value.string_value = keys.ERROR_TYPE, "KeyError"
        if (n + i) % 7 == 0:
            record.trace_id = b"\x01\x02"
    return request


def test_log_requests_converted_together_are_each_what_it_is_alone() -> None:
    scrubber = IngestScrubber()
    requests = [_log_request(n, records=r) for n, r in ((1, 3), (2, 0), (3, 1), (4, 5), (5, 0), (6, 2))]
    requests.insert(2, ExportLogsServiceRequest())
    together = logs_tables(requests, scrubber)
    assert len(together) == len(requests)
    assert sum(c.rejected for c in together) > 0
    assert sum(c.log_error_candidates is not None for c in together) > 1
    for request, got in zip(requests, together, strict=True):
        alone = logs_table(request, scrubber)
        assert (got.accepted, got.rejected) == (alone.accepted, alone.rejected)
        assert set(got.tables) == set(alone.tables)
        for name, table in alone.tables.items():
            assert got.tables[name].to_pylist() == table.to_pylist(), name
        expected = alone.log_error_candidates
        assert (None if got.log_error_candidates is None else got.log_error_candidates.to_pylist()) == (
            None if expected is None else expected.to_pylist())


def _small_requests(count: int) -> list[tuple[object, bytes]]:
    """One span or one log record per request, interleaved, as simple processors export them."""
    out: list[tuple[object, bytes]] = []
    for n in range(count):
        spans = sample_spans_request(1)
        if n % 4 == 0:
            spans.resource_spans[0].scope_spans[0].spans[0].status.code = 2
        out.append((TRACES, spans.SerializeToString()))
        out.append((LOGS, _log_request(n).SerializeToString()))
    return out


@pytest.mark.parametrize("convert_process", [False, True], ids=["here", "child"])
def test_small_trace_and_log_requests_are_converted_many_at_a_time(tmp_path: Path, convert_process: bool) -> None:
    """A pass costs about the same for one span as for thousands: requests that wait are converted together,
    and each still gets its own answer and rows."""
    requests = _small_requests(150)
    con = connect(tmp_path / "small.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), convert_process=convert_process).start()
    answers: list[WriteResult | BaseException] = [WriteResult(-1, -1)] * len(requests)
    try:
        for n, (signal_, body) in enumerate(requests):
            writer.submit(signal_, body, lambda result, n=n: answers.__setitem__(n, result))  # type: ignore[misc]
    finally:
        writer.close()  # converts and commits everything submitted
    batches = writer.stats.convert_batches
    logs_rejected = sum(1 for n in range(150) if n % 7 == 0)
    assert answers[0::2] == [WriteResult(1, 0)] * 150
    assert [a.rejected for a in answers[1::2] if isinstance(a, WriteResult)] == [
        int(n % 7 == 0) for n in range(150)]
    counts = con.execute(
        "SELECT (SELECT count(*) FROM otel_traces), (SELECT count(*) FROM otel_logs),"
        " (SELECT count(*) FROM liveobs_errors WHERE Source = 'span'),"
        " (SELECT count(*) FROM liveobs_correlation WHERE Signal = 'log')").fetchone()
    con.close()
    assert counts == (150, 150 - logs_rejected, len(range(0, 150, 4)), 150 - logs_rejected)
    assert batches <= len(requests) // 10, f"{batches} conversion passes for {len(requests)} requests"


def test_the_plain_writer_converts_waiting_trace_and_log_requests_together(tmp_path: Path) -> None:
    requests = _small_requests(60)
    con = connect(tmp_path / "plain.duckdb")
    writer = Writer(con).start()
    answers: list[WriteResult | BaseException] = []
    try:
        for signal_, body in requests:
            writer.submit(signal_, body, answers.append)  # type: ignore[arg-type]
    finally:
        writer.close()
    batches = writer.stats.convert_batches
    assert len(answers) == len(requests)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (60,)
    con.close()
    assert batches < len(requests) // 2


def test_the_conversion_process_converts_without_loading_pandas(tmp_path: Path) -> None:
    # requirements-dev.txt brings pandas (through chdb), which pyarrow would import on its first use; without
    # pandas installed this test would prove nothing, so it fails instead of passing.
    import pandas  # noqa: F401
    con = connect(tmp_path / "p.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), convert_process=True).start()
    try:
        pid = writer.worker_pid
        assert pid is not None
        assert writer.write(TRACES, sample_spans_request(50).SerializeToString(), media=PROTOBUF).accepted == 50
        assert writer.flush(timeout=30)
        assert writer.worker_pid == pid  # converted there, not in this process after a failure
        mapped = Path(f"/proc/{pid}/maps").read_text()
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (50,)
    con.close()
    assert "/pyarrow/" in mapped
    assert "/pandas/" not in mapped
