"""The writer against a real DuckDB file: rows, correlation, errors, trace bounds, redaction, ledger."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.conventions import error_fingerprint, keys
from liveobs.correlator._db import connect
from liveobs.correlator._otlp import LOGS, TRACES, MalformedBody
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table
from liveobs.correlator._trace_sql import TRACE_BOUNDS
from liveobs.correlator._writer import Writer, WriteResult
from tests.correlator.answers import answers

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def _attr(target, key: str, value) -> None:
    kv = target.add()
    kv.key = key
    if isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = value


def _span(request: ExportTraceServiceRequest, trace: str, span: str, start: int, end: int, **attrs: str):
    rs = request.resource_spans[0] if request.resource_spans else request.resource_spans.add()
    if not rs.resource.attributes:
        _attr(rs.resource.attributes, keys.SERVICE_NAME, "shop")
        _attr(rs.resource.attributes, keys.SERVICE_VERSION, "7.0")
    ss = rs.scope_spans[0] if rs.scope_spans else rs.scope_spans.add()
    s = ss.spans.add()
    s.trace_id = bytes.fromhex(trace)
    s.span_id = bytes.fromhex(span)
    s.name = "op"
    s.start_time_unix_nano = start
    s.end_time_unix_nano = end
    for key, value in attrs.items():
        _attr(s.attributes, key.replace("__", "."), value)
    return s


@pytest.fixture
def store(tmp_path: Path):
    con = connect(tmp_path / "w.duckdb")
    writer = Writer(con).start()
    yield con, writer
    writer.close()
    con.close()


def test_trace_bounds_merge_across_commits(store) -> None:
    con, writer = store
    trace = "11" * 16
    first = ExportTraceServiceRequest()
    _span(first, trace, "01" * 8, 2_000, 3_000)
    second = ExportTraceServiceRequest()
    _span(second, trace, "02" * 8, 1_000, 1_500)
    _span(second, trace, "03" * 8, 2_500, 9_000)
    assert writer.write(TRACES, first) == WriteResult(1, 0)
    assert writer.write(TRACES, second) == WriteResult(2, 0)
    rows = con.execute('SELECT TraceId, epoch_ns("Start"), epoch_ns("End") FROM otel_traces_trace_id_ts'
                       ' ORDER BY 2').fetchall()
    assert rows == [(trace, 1_000, 9_000), (trace, 2_000, 3_000)]  # a row per commit, as the exporter keeps them
    # The lookup merges them (and widens the end to the end of its second, as it does for ClickHouse).
    assert con.execute(TRACE_BOUNDS, [trace]).fetchone() == (1_000, 9_000 + 999_999_999)


def test_span_errors_use_the_sent_fingerprint_or_compute_one(store) -> None:
    con, writer = store
    request = ExportTraceServiceRequest()
    sent = _span(request, "22" * 16, "01" * 8, 1, 2, error__type="CartError", liveobs__error__fingerprint="abc123")
    sent.status.code = 2
    computed = _span(request, "22" * 16, "02" * 8, 1, 2, liveobs__event__id="ev-1")
    event = computed.events.add()
    event.name = keys.EXCEPTION_EVENT
    _attr(event.attributes, keys.EXCEPTION_TYPE, "KeyError")
    _attr(event.attributes, keys.EXCEPTION_MESSAGE, "cart 42 missing")
    _span(request, "22" * 16, "03" * 8, 1, 2)  # neither: no error row
    writer.write(TRACES, request)
    rows = con.execute(
        "SELECT SpanId, ErrorType, Fingerprint, Message, EventId, ServiceVersion FROM liveobs_errors ORDER BY SpanId"
    ).fetchall()
    assert rows == [
        ("01" * 8, "CartError", "abc123", None, None, "7.0"),
        ("02" * 8, "KeyError", error_fingerprint("shop", "KeyError", "cart 42 missing"), "cart 42 missing", "ev-1", "7.0"),
    ]


def test_secrets_are_scrubbed_on_ingest_and_ids_kept(store) -> None:
    con, writer = store
    request = ExportTraceServiceRequest()
    span = _span(request, "33" * 16, "01" * 8, 1, 2, session__id="s-1", password="hunter2",
                 http__url="https://bob:pa55word@example.com/x", note=f"token {JWT}")
    span.status.message = f"auth failed with Bearer {JWT}"
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = f"Authorization: Bearer {JWT}"
    writer.write(TRACES, request)
    writer.write(LOGS, logs)
    attrs, status = con.execute("SELECT SpanAttributes, StatusMessage FROM otel_traces").fetchone()
    assert attrs["session.id"] == "s-1"
    assert attrs["password"] == "[REDACTED:key]"
    assert "pa55word" not in attrs["http.url"]
    assert JWT not in attrs["note"]
    assert JWT not in status
    body = con.execute("SELECT Body FROM otel_logs").fetchone()[0]
    assert JWT not in body
    assert "[REDACTED" in body


def test_repeated_attribute_keys_keep_the_last_value_instead_of_failing(store) -> None:
    con, writer = store
    request = ExportTraceServiceRequest()
    span = _span(request, "44" * 16, "01" * 8, 1, 2, liveobs__event__id="first")
    _attr(span.attributes, keys.EVENT_ID, "second")
    assert writer.write(TRACES, request).accepted == 1
    assert con.execute("SELECT SpanAttributes[?] FROM otel_traces", [keys.EVENT_ID]).fetchone() == ("second",)
    assert con.execute("SELECT EventId FROM liveobs_correlation").fetchone() == ("second",)


def test_attributes_stay_right_when_the_interner_starts_afresh_between_requests() -> None:
    scrubber = IngestScrubber()
    interner = AttributeInterner(scrubber, limit=3)
    for n in range(4):
        request = ExportTraceServiceRequest()
        _span(request, f"{n + 1:02x}" * 16, "01" * 8, 1, 2, route=f"r{n % 2}", api_key="k", note=JWT, count=n)
        table = spans_table(raw_trace_request(request), scrubber, interner).tables["otel_traces"]
        attrs = dict(table.column("SpanAttributes").to_pylist()[0])
        assert attrs["route"] == f"r{n % 2}"
        assert attrs["count"] == str(n)
        assert attrs["api_key"] == scrubber.key_marker
        assert JWT not in attrs["note"]
    assert len(interner.pair_keys) <= 3 + 4


def test_a_source_key_is_stored_once(store) -> None:
    con, writer = store
    request = sample_spans_request(5)
    assert writer.write(TRACES, request, source_key="file:0") == WriteResult(5, 0)
    assert writer.write(TRACES, request, source_key="file:0") == WriteResult(0, 0, duplicate=True)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (5,)


def test_a_malformed_body_fails_alone_and_the_group_commits(store) -> None:
    con, writer = store
    payloads = [b"\x0a\xff" if i == 10 else sample_spans_request(100).SerializeToString() for i in range(21)]
    results = answers(writer, TRACES, payloads)
    assert sum(isinstance(r, MalformedBody) for r in results) == 1
    assert sum(isinstance(r, WriteResult) and r.accepted == 100 for r in results) == 20
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (2000,)
    assert writer.stats.commits < 20  # group commit: many requests per transaction


def test_close_drains_every_queued_request(tmp_path: Path) -> None:
    con = connect(tmp_path / "d.duckdb")
    writer = Writer(con).start()
    acked: list[object] = []
    for _ in range(30):
        writer.submit(TRACES, sample_spans_request(200).SerializeToString(), acked.append)
    writer.close()
    assert len(acked) == 30
    assert all(isinstance(a, WriteResult) for a in acked)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (6000,)
    con.close()
    assert duckdb.connect(str(tmp_path / "d.duckdb")).execute("SELECT count(*) FROM otel_traces").fetchone() == (6000,)


