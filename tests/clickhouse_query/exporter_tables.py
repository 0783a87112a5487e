"""The OpenTelemetry Collector ClickHouse exporter's tables (its default layout), and copying a DuckDB store into them.

The DDL follows the exporter's templates (``exporter/clickhouseexporter/internal/sqltemplates``):
the same columns, types, nested columns, ordering and the trace-id lookup table with its
materialized view. ``liveobs_correlation`` and ``liveobs_errors`` are liveobs's own, with the
DuckDB store's columns. :func:`copy_store` writes a DuckDB store's rows into them unchanged, so
that one data set answers on both engines.
"""

from __future__ import annotations

from typing import Any

import duckdb

_ATTRS = "Map(LowCardinality(String), String)"
_METRIC_COMMON = f"""
    ResourceAttributes {_ATTRS}, ResourceSchemaUrl String, ScopeName String, ScopeVersion String,
    ScopeAttributes {_ATTRS}, ScopeDroppedAttrCount UInt32, ScopeSchemaUrl String,
    ServiceName LowCardinality(String), MetricName String, MetricDescription String, MetricUnit String,
    Attributes {_ATTRS}, StartTimeUnix DateTime64(9), TimeUnix DateTime64(9),
    Exemplars Nested(FilteredAttributes {_ATTRS}, TimeUnix DateTime64(9), Value Float64, SpanId String, TraceId String),
    Flags UInt32"""
_METRIC_ORDER = "PARTITION BY toDate(TimeUnix) ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))"

DDL: tuple[str, ...] = (
    f"""CREATE TABLE otel_traces (
    Timestamp DateTime64(9), TraceId String, SpanId String, ParentSpanId String, TraceState String,
    SpanName LowCardinality(String), SpanKind LowCardinality(String), ServiceName LowCardinality(String),
    ResourceAttributes {_ATTRS}, ScopeName String, ScopeVersion String, SpanAttributes {_ATTRS},
    Duration UInt64, StatusCode LowCardinality(String), StatusMessage String,
    Events Nested(Timestamp DateTime64(9), Name LowCardinality(String), Attributes {_ATTRS}),
    Links Nested(TraceId String, SpanId String, TraceState String, Attributes {_ATTRS}),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree PARTITION BY toDate(Timestamp) PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)""",
    """CREATE TABLE otel_traces_trace_id_ts (
    TraceId String, Start SimpleAggregateFunction(min, DateTime), End SimpleAggregateFunction(max, DateTime)
) ENGINE = AggregatingMergeTree PARTITION BY toStartOfWeek(Start) ORDER BY (TraceId)""",
    """CREATE MATERIALIZED VIEW otel_traces_trace_id_ts_mv TO otel_traces_trace_id_ts AS
SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End FROM otel_traces WHERE TraceId != '' GROUP BY TraceId""",
    f"""CREATE TABLE otel_logs (
    Timestamp DateTime64(9), TraceId String, SpanId String, TraceFlags UInt8, SeverityText LowCardinality(String),
    SeverityNumber UInt8, ServiceName LowCardinality(String), Body String, ResourceSchemaUrl LowCardinality(String),
    ResourceAttributes {_ATTRS}, ScopeSchemaUrl LowCardinality(String), ScopeName String,
    ScopeVersion LowCardinality(String), ScopeAttributes {_ATTRS}, LogAttributes {_ATTRS}, EventName String
) ENGINE = MergeTree PARTITION BY toDate(Timestamp) PRIMARY KEY (ServiceName, toStartOfFiveMinutes(Timestamp))
ORDER BY (ServiceName, toStartOfFiveMinutes(Timestamp), Timestamp)""",
    f"CREATE TABLE otel_metrics_gauge ({_METRIC_COMMON}, Value Float64) ENGINE = MergeTree {_METRIC_ORDER}",
    f"""CREATE TABLE otel_metrics_sum ({_METRIC_COMMON}, Value Float64, AggregationTemporality Int32, IsMonotonic Bool)
ENGINE = MergeTree {_METRIC_ORDER}""",
    f"""CREATE TABLE otel_metrics_histogram ({_METRIC_COMMON}, Count UInt64, Sum Float64, BucketCounts Array(UInt64),
    ExplicitBounds Array(Float64), Min Float64, Max Float64, AggregationTemporality Int32) ENGINE = MergeTree {_METRIC_ORDER}""",
    f"""CREATE TABLE otel_metrics_exp_histogram ({_METRIC_COMMON}, Count UInt64, Sum Float64, Scale Int32, ZeroCount UInt64,
    PositiveOffset Int32, PositiveBucketCounts Array(UInt64), NegativeOffset Int32, NegativeBucketCounts Array(UInt64),
    Min Float64, Max Float64, AggregationTemporality Int32) ENGINE = MergeTree {_METRIC_ORDER}""",
    f"""CREATE TABLE otel_metrics_summary ({_METRIC_COMMON}, Count UInt64, Sum Float64,
    ValueAtQuantiles Nested(Quantile Float64, Value Float64)) ENGINE = MergeTree {_METRIC_ORDER}""",
    """CREATE TABLE liveobs_correlation (
    Timestamp DateTime64(9), Signal LowCardinality(String), ServiceName Nullable(String), ServiceVersion Nullable(String),
    TraceId Nullable(String), SpanId Nullable(String), EventId Nullable(String), SessionId Nullable(String),
    RequestId Nullable(String), RouteId Nullable(String), ConnectionId Nullable(String), EventName Nullable(String),
    ErrorType Nullable(String)
) ENGINE = MergeTree ORDER BY Timestamp""",
    """CREATE TABLE liveobs_errors (
    Timestamp DateTime64(9), Source LowCardinality(String), ServiceName Nullable(String), ServiceVersion Nullable(String),
    Environment Nullable(String), ErrorType String, Fingerprint String, Message Nullable(String),
    TraceId Nullable(String), SpanId Nullable(String), EventId Nullable(String), SessionId Nullable(String),
    RequestId Nullable(String), RouteId Nullable(String)
) ENGINE = MergeTree ORDER BY Timestamp""",
)

COPIED = ("otel_traces", "otel_logs", "otel_metrics_gauge", "otel_metrics_sum", "otel_metrics_histogram",
          "liveobs_correlation", "liveobs_errors")


def create_tables(client: Any) -> None:
    for statement in DDL:
        client.command(statement)


_NULLABLE = frozenset({"ServiceName", "ServiceVersion", "TraceId", "SpanId", "EventId", "SessionId", "RequestId",
                       "RouteId", "ConnectionId", "EventName", "ErrorType", "Environment", "Message"})


def copy_store(duck: duckdb.DuckDBPyConnection, client: Any) -> dict[str, int]:
    """Every row of the copied tables, from a DuckDB store into ClickHouse; rows per table."""
    counts: dict[str, int] = {}
    for table in COPIED:
        cur = duck.execute(f"SELECT {_columns(duck, table)} FROM {table}")
        columns = [d[0] for d in cur.description or ()]
        rows = cur.fetchall()
        counts[table] = len(rows)
        if not rows:
            continue
        exporter = table.startswith("otel_")
        batch = [
            [_empty(c) if v is None and (exporter or c not in _NULLABLE) else v for c, v in zip(columns, row, strict=True)]
            for row in rows
        ]
        client.insert(table, batch, column_names=columns)
    return counts


def _empty(column: str) -> Any:
    if column.endswith("Attributes"):
        return {}
    if column in ("Min", "Max", "Sum", "Value"):
        return 0.0
    if column in ("Count", "Flags", "ScopeDroppedAttrCount", "AggregationTemporality", "TraceFlags", "SeverityNumber"):
        return 0
    if column == "IsMonotonic":
        return False
    return ""


def _columns(duck: duckdb.DuckDBPyConnection, table: str) -> str:
    """The table's columns with timestamps as integer nanoseconds (a datetime keeps only microseconds)
    and each struct of lists (DuckDB's Nested) as the exporter's ``Name.Field`` array columns."""
    out = []
    for name, kind in duck.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall():
        if kind == "TIMESTAMP_NS":
            out.append(f'epoch_ns("{name}") AS "{name}"')
        elif kind.startswith("STRUCT"):
            for field in _struct_fields(kind):
                fname, ftype = field.split(" ", 1)
                fname = fname.strip('"')
                value = f'coalesce("{name}"."{fname}", [])'
                if ftype.startswith("TIMESTAMP_NS"):
                    value = f"list_transform({value}, lambda t: epoch_ns(t))"
                elif ftype.startswith("MAP"):
                    value = f"list_transform({value}, lambda m: coalesce(m, MAP {{}}))"
                out.append(f'{value} AS "{name}.{fname}"')
        else:
            out.append(f'"{name}"')
    return ", ".join(out)


def _struct_fields(kind: str) -> list[str]:
    inner = kind[kind.index("(") + 1:kind.rindex(")")]
    fields, depth, current = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            fields.append(current.strip())
            current = ""
            continue
        depth += ch in "(["
        depth -= ch in ")]"
        current += ch
    fields.append(current.strip())
    return fields
