"""The OpenTelemetry Collector ClickHouse exporter's tables, in the two layouts it has shipped.

liveobs reads these tables as the exporter creates them and never alters them;
this DDL exists so that tests, benchmarks and a fresh chdb folder hold exactly
what a Collector would have written into. ``"current"`` is the newer layout (logs
ordered by ``toStartOfFiveMinutes(Timestamp)`` with ``EventName``, trace-id
bounds as ``DateTime``); ``"legacy"`` the older one (logs with ``TimestampTime``
and no ``EventName``, trace-id bounds as ``DateTime64(9)``). Metric times are
``DateTime64(9)`` unless ``metric_time="DateTime"`` asks for the second-precision
variant that some deployments hold.
"""

from __future__ import annotations

from typing import Final, Literal

from liveobs.correlator.stores._clickhouse import quote_identifier

ExporterLayout = Literal["current", "legacy"]
MetricTime = Literal["DateTime64(9)", "DateTime"]

_MAP: Final = "Map(LowCardinality(String), String)"
_ATTR_INDEXES: Final = """
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_{own}_key mapKeys({column}) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_{own}_value mapValues({column}) TYPE bloom_filter(0.01) GRANULARITY 1"""

_TRACES: Final = f"""(
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes {_MAP} CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes {_MAP} CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes {_MAP}) CODEC(ZSTD(1)),
    Links Nested (TraceId String, SpanId String, TraceState String, Attributes {_MAP}) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,{_ATTR_INDEXES.format(own="span_attr", column="SpanAttributes")},
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = {{engine}}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
{{ttl}}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""

_LOG_COLUMNS: Final = f"""
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes {_MAP} CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes {_MAP} CODEC(ZSTD(1)),
    LogAttributes {_MAP} CODEC(ZSTD(1)),"""
_LOG_INDEXES: Final = f"""
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,{_ATTR_INDEXES.format(own="log_attr", column="LogAttributes")},
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8"""

_LOGS: Final[dict[ExporterLayout, str]] = {
    "current": f"""(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),{_LOG_COLUMNS}
    EventName String CODEC(ZSTD(1)),{_LOG_INDEXES}
) ENGINE = {{engine}}
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)
{{ttl}}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
    "legacy": f"""(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),{_LOG_COLUMNS.rstrip(",")},{_LOG_INDEXES}
) ENGINE = {{engine}}
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
{{ttl}}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
}

_TRACE_ID_TS: Final = """(
    TraceId String CODEC(ZSTD(1)),
    Start {time} CODEC(Delta, ZSTD(1)),
    End {time} CODEC(Delta, ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = {{engine}}
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
{{ttl}}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""

_METRIC_COMMON: Final = f"""
    ResourceAttributes {_MAP} CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes {_MAP} CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes {_MAP} CODEC(ZSTD(1)),
    StartTimeUnix {{time}} CODEC(Delta, ZSTD(1)),
    TimeUnix {{time}} CODEC(Delta, ZSTD(1)),"""
_EXEMPLARS: Final = f"""
    Exemplars Nested (FilteredAttributes {_MAP}, TimeUnix {{time}}, Value Float64, SpanId String, TraceId String)
        CODEC(ZSTD(1)),"""
_METRIC_TAIL: Final = f"""{_ATTR_INDEXES.format(own="scope_attr", column="ScopeAttributes")},
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = {{{{engine}}}}
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(toDateTime64(TimeUnix, 9)))
{{{{ttl}}}}SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""
_METRICS: Final[dict[str, str]] = {
    "otel_metrics_gauge": f"""({_METRIC_COMMON}
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),{_EXEMPLARS}{_METRIC_TAIL}""",
    "otel_metrics_sum": f"""({_METRIC_COMMON}
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),{_EXEMPLARS}
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic Bool CODEC(Delta, ZSTD(1)),{_METRIC_TAIL}""",
    "otel_metrics_histogram": f"""({_METRIC_COMMON}
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),{_EXEMPLARS}
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),{_METRIC_TAIL}""",
    "otel_metrics_exp_histogram": f"""({_METRIC_COMMON}
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),{_EXEMPLARS}
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),{_METRIC_TAIL}""",
    "otel_metrics_summary": f"""({_METRIC_COMMON}
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested (Quantile Float64, Value Float64) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),{_METRIC_TAIL}""",
}

# The exporter's own materialized view: first and last span start of each trace.
_TRACE_ID_TS_MV: Final = """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.otel_traces_trace_id_ts_mv{cluster}
TO {db}.otel_traces_trace_id_ts
AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM {db}.otel_traces WHERE TraceId != '' GROUP BY TraceId"""


def _ttl(column: str, days: int) -> str:
    return f"TTL toDateTime({column}) + toIntervalDay({days})\n" if days > 0 else ""


def exporter_ddl(
    database: str,
    *,
    layout: ExporterLayout = "current",
    metric_time: MetricTime = "DateTime64(9)",
    cluster: str | None = None,
    engine: str = "MergeTree()",
    ttl_days: int = 0,
) -> list[str]:
    """``CREATE`` statements for the exporter's database, tables and trace-id view, in order."""
    db = quote_identifier(database)
    on_cluster = f" ON CLUSTER {quote_identifier(cluster)}" if cluster else ""
    trace_time = "DateTime" if layout == "current" else "DateTime64(9)"
    logs_ttl_column = "TimestampTime" if layout == "legacy" else "Timestamp"

    def table(name: str, body: str, ttl_column: str) -> str:
        filled = body.replace("{engine}", engine).replace("{ttl}", _ttl(ttl_column, ttl_days))
        return f"CREATE TABLE IF NOT EXISTS {db}.{name}{on_cluster} {filled}"

    statements = [f"CREATE DATABASE IF NOT EXISTS {db}{on_cluster}"]
    statements.append(table("otel_traces", _TRACES, "Timestamp"))
    statements.append(table("otel_traces_trace_id_ts", _TRACE_ID_TS.format(time=trace_time), "Start"))
    statements.append(_TRACE_ID_TS_MV.format(db=db, cluster=on_cluster))
    statements.append(table("otel_logs", _LOGS[layout], logs_ttl_column))
    for name, body in _METRICS.items():
        statements.append(table(name, body.format(time=metric_time), "TimeUnix"))
    return statements
