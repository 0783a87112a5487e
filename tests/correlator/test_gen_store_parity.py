"""``benchmarks/gen_store.py`` writes what the real ingest path writes for the same spans and log records.

The read-path tests run on generated stores, so the generator's own SQL for the
derived tables (correlation index, trace bounds, error occurrences) must agree
with the collector's. The generated spans and log records are sent again as
OTLP requests through the real writer into a fresh store, and every table is
compared row for row.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.correlator._db import connect
from liveobs.correlator._otlp import LOGS, TRACES
from liveobs.correlator._spans import SPAN_KINDS, STATUS_CODES
from liveobs.correlator._writer import Writer

COMPARED = {
    "otel_traces": 'SELECT * EXCLUDE (Events, Links), to_json(Events) AS ev FROM otel_traces',
    "otel_logs": "SELECT * FROM otel_logs",
    "liveobs_correlation": "SELECT * FROM liveobs_correlation",
    "liveobs_errors": "SELECT * FROM liveobs_errors",
    # A row per trace per insert, merged when read: the merged bounds are what both must agree on.
    "otel_traces_trace_id_ts": 'SELECT TraceId, min("Start"), max("End") FROM otel_traces_trace_id_ts GROUP BY TraceId',
}


def _attrs(target: Any, mapping: dict[str, str] | None) -> None:
    for key, value in (mapping or {}).items():
        attribute = target.add()
        attribute.key, attribute.value.string_value = key, value


def _ns(value: Any) -> int:
    return int(value)


def _trace_requests(con: duckdb.DuckDBPyConnection) -> list[bytes]:
    rows = con.execute(
        'SELECT epoch_ns("Timestamp"), TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind,'
        " ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,"
        ' [epoch_ns(t) FOR t IN Events."Timestamp"], Events."Name", Events.Attributes FROM otel_traces'
    ).fetchall()
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        groups[(tuple(row[7].items()), row[8], row[9])].append(row)
    bodies = []
    for (resource, scope, version), spans in groups.items():
        for start in range(0, len(spans), 2000):
            request = ExportTraceServiceRequest()
            rs = request.resource_spans.add()
            _attrs(rs.resource.attributes, dict(resource))
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = scope, version
            for row in spans[start:start + 2000]:
                span = ss.spans.add()
                span.start_time_unix_nano = _ns(row[0])
                span.end_time_unix_nano = _ns(row[0]) + int(row[11])
                span.trace_id, span.span_id = bytes.fromhex(row[1]), bytes.fromhex(row[2])
                span.parent_span_id = bytes.fromhex(row[3]) if row[3] else b""
                span.trace_state = row[4] or ""
                span.name = row[5]
                span.kind = SPAN_KINDS.index(row[6])
                _attrs(span.attributes, row[10])
                span.status.code = STATUS_CODES.index(row[12])
                span.status.message = row[13] or ""
                for at, name, attributes in zip(row[14] or [], row[15] or [], row[16] or [], strict=True):
                    event = span.events.add()
                    event.time_unix_nano, event.name = _ns(at), name
                    _attrs(event.attributes, attributes)
            bodies.append(request.SerializeToString())
    return bodies


def _log_requests(con: duckdb.DuckDBPyConnection) -> list[bytes]:
    rows = con.execute(
        'SELECT epoch_ns("Timestamp"), TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, Body,'
        " ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes,"
        " LogAttributes, EventName FROM otel_logs"
    ).fetchall()
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        groups[(row[7], tuple(row[8].items()), row[9], row[10], row[11],
                tuple((row[12] or {}).items()))].append(row)
    bodies = []
    for (resource_url, resource, scope_url, scope, version, scope_attrs), records in groups.items():
        for start in range(0, len(records), 2000):
            request = ExportLogsServiceRequest()
            rl = request.resource_logs.add()
            rl.schema_url = resource_url or ""
            _attrs(rl.resource.attributes, dict(resource))
            sl = rl.scope_logs.add()
            sl.schema_url = scope_url or ""
            sl.scope.name, sl.scope.version = scope, version
            _attrs(sl.scope.attributes, dict(scope_attrs))
            for row in records[start:start + 2000]:
                record = sl.log_records.add()
                record.time_unix_nano = _ns(row[0])
                record.trace_id = bytes.fromhex(row[1]) if row[1] else b""
                record.span_id = bytes.fromhex(row[2]) if row[2] else b""
                record.flags = row[3]
                record.severity_text, record.severity_number = row[4], row[5]
                record.body.string_value = row[6]
                _attrs(record.attributes, row[13])
                record.event_name = row[14] or ""
            bodies.append(request.SerializeToString())
    return bodies


def _table(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(str(v) for v in row) for row in con.execute(sql).fetchall())


@pytest.mark.slow
def test_a_generated_store_equals_the_same_data_sent_through_ingest(store_generator: Any, tmp_path: Path) -> None:
    generated = tmp_path / "generated.duckdb"
    store_generator.generate(generated, rows=3_000, seed=11, error_rate=0.2)
    source = duckdb.connect(str(generated), read_only=True)
    traces, logs = _trace_requests(source), _log_requests(source)
    ingested = connect(tmp_path / "ingested.duckdb")
    writer = Writer(ingested).start()
    try:
        for body in traces:
            assert writer.write(TRACES, body).rejected == 0
        for body in logs:
            assert writer.write(LOGS, body).rejected == 0
    finally:
        writer.close()
    for name, sql in COMPARED.items():
        expected, actual = _table(source, sql), _table(ingested, sql)
        assert len(expected) > 0, name
        missing = [row for row in expected if row not in set(actual)][:3]
        extra = [row for row in actual if row not in set(expected)][:3]
        assert (missing, extra) == ([], []), f"{name}: generated but not ingested {missing}; ingested only {extra}"
    source.close()
    ingested.close()
