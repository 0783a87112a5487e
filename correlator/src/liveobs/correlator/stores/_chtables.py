"""``CREATE`` statements for liveobs's tables and views on ClickHouse (see ``_chschema`` for what each holds).

Engines are ``ReplacingMergeTree`` where a row may reach a table twice (a backfill batch
repeated after a crash, a late Collector insert also seen by a view): identical rows
collapse on merge. ``Options.replicated`` gives the ``Replicated*`` engines with the
usual ``{shard}``/``{replica}`` macros, ``Options.cluster`` adds ``ON CLUSTER``, and
``Options.distributed`` keeps the data in ``<name>_local`` tables on every shard with a
``Distributed`` table under the name queries use. The tables only liveobs writes (release
records, kept samples; see ``_chmirror``) are plain ``MergeTree``: ``liveobs release record``
replaces a release's rows with a lightweight ``DELETE`` and an ``INSERT``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from liveobs.correlator.stores._chmirror import mirrored_tables, mirrored_views
from liveobs.correlator.stores._chschema import SCHEMA_VERSION, Feed, Statement, feeds
from liveobs.correlator.stores._clickhouse import quote_identifier
from liveobs.correlator.stores._layout import Layout

_ID: Final = "Nullable(String) CODEC(ZSTD(1))"
_LOW: Final = "LowCardinality(Nullable(String))"


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: str
    engine: str  # MergeTree family name, e.g. "ReplacingMergeTree"
    engine_args: str = ""
    order_by: str = "tuple()"
    partition_by: str = ""
    ttl_column: str = ""  # the time column a TTL applies to; empty: never expires
    settings: str = "index_granularity = 8192"


# The correlation index again, sorted by session and by request id: a trace's session context
# and a lookup by request id read a few granules of these instead of a bloom filter over the
# whole index. ClickHouse picks one for a query by itself (see ``_dialect`` for when it can).
PROJECTIONS: Final = {
    "by_session": "SELECT * ORDER BY SessionId, Timestamp",
    "by_request": "SELECT * ORDER BY RequestId, Timestamp",
}
_PROJECTION_CLAUSES: Final = ",\n    ".join(f"PROJECTION {name} ({sql})" for name, sql in PROJECTIONS.items())

# The columns of ``liveobs_releases`` that schema version 1 lacked (``upgrade_releases`` adds them).
RELEASE_COUNTS: Final = """Spans SimpleAggregateFunction(sum, UInt64),
    Requests SimpleAggregateFunction(sum, UInt64),
    FirstRequest SimpleAggregateFunction(min, Nullable(DateTime64(9))),
    LastRequest SimpleAggregateFunction(max, Nullable(DateTime64(9)))"""

TABLES: Final = (
    Table("liveobs_correlation", f"""
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    Signal LowCardinality(String),
    ServiceName LowCardinality(String),
    ServiceVersion {_LOW},
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    EventId {_ID},
    SessionId {_ID},
    RequestId {_ID},
    RouteId {_LOW},
    ConnectionId {_ID},
    EventName {_LOW},
    ErrorType {_LOW},
    INDEX idx_request_id RequestId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_session_id SessionId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    {_PROJECTION_CLAUSES}""",
          "ReplacingMergeTree", order_by="(EventId, Timestamp, Signal, TraceId, SpanId)",
          partition_by="toDate(Timestamp)", ttl_column="Timestamp",
          # A merge that collapses rows rebuilds the projections from the merged rows.
          settings="allow_nullable_key = 1, index_granularity = 8192, ttl_only_drop_parts = 1, "
                   "deduplicate_merge_projection_mode = 'rebuild'"),
    Table("liveobs_errors", f"""
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    Source LowCardinality(String),
    ServiceName LowCardinality(String),
    ServiceVersion {_LOW},
    Environment {_LOW},
    ErrorType LowCardinality(String),
    Fingerprint String,
    Message Nullable(String) CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    EventId {_ID},
    SessionId {_ID},
    RequestId {_ID},
    RouteId {_LOW},
    INDEX idx_event_id EventId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1""",
          "ReplacingMergeTree", order_by="(ServiceName, Fingerprint, Timestamp, Source, TraceId, SpanId)",
          partition_by="toDate(Timestamp)", ttl_column="Timestamp",
          settings="index_granularity = 8192, ttl_only_drop_parts = 1"),
    Table("liveobs_releases", f"""
    ServiceName LowCardinality(String),
    Environment {_LOW},
    Release String,
    FirstSeen SimpleAggregateFunction(min, DateTime64(9)),
    LastSeen SimpleAggregateFunction(max, DateTime64(9)),
    {RELEASE_COUNTS}""",
          "AggregatingMergeTree", order_by="(ServiceName, Environment, Release)",
          settings="allow_nullable_key = 1, index_granularity = 8192"),
    Table("liveobs_gate_runs", """
    RunId String,
    RanAt DateTime64(6, 'UTC'),
    Selection String,
    Status LowCardinality(String),
    ExitCode Int32,
    ServiceName Nullable(String),
    Environment Nullable(String),
    Release Nullable(String),
    Baseline Nullable(String),
    WindowStart Nullable(DateTime64(6, 'UTC')),
    WindowEnd Nullable(DateTime64(6, 'UTC')),
    Generator String,
    Seconds Nullable(Float64)""",
          "ReplacingMergeTree", order_by="(RunId)"),
    Table("liveobs_gate_results", """
    RunId String,
    Position Int32,
    CheckId String,
    Gate LowCardinality(String),
    Status LowCardinality(String),
    Required Bool,
    Reason Nullable(String),
    Observed Nullable(Float64),
    Threshold Nullable(String),
    Evidence Int64""",
          "ReplacingMergeTree", order_by="(RunId, Position)"),
    Table("liveobs_backfill", """
    Feed String,
    Cutoff DateTime64(9),
    Done DateTime64(9),
    Rows UInt64,
    UpdatedAt DateTime64(6)""",
          "ReplacingMergeTree", engine_args="UpdatedAt", order_by="(Feed)"),
    Table("liveobs_clickhouse_schema", """
    Version UInt32,
    Name String,
    AppliedAt DateTime""",
          "ReplacingMergeTree", order_by="(Version)"),
)

# Only these are sharded under --distributed; the bookkeeping tables stay one per node.
SHARDED: Final = frozenset({"liveobs_correlation", "liveobs_errors", "liveobs_releases"})
_TTL: Final = re.compile(r"TTL\s+toDateTime\(\s*`?Timestamp`?\s*\)\s*\+\s*(toInterval(?:Second|Minute|Hour|Day|Week)\(\d+\))")


def exporter_ttl(create_query: str) -> str | None:
    """The interval of the exporter's ``otel_traces`` TTL (``toIntervalDay(180)``), or None without one."""
    match = _TTL.search(create_query)
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``liveobs clickhouse init`` creates: tables, then views (the views last, so that they start
    feeding only into tables that exist)."""

    statements: list[Statement] = field(default_factory=list)
    feeds: list[Feed] = field(default_factory=list)


def plan(
    layout: Layout,
    *,
    cluster: str | None = None,
    replicated: bool = False,
    distributed: bool = False,
    ttl: str | None = None,
) -> Plan:
    """The statements for ``layout``'s database. ``ttl`` is an interval expression (``toIntervalDay(30)``)."""
    if distributed and not cluster:
        raise ValueError("Distributed tables need a cluster (--cluster NAME)")
    db = quote_identifier(layout.database)
    on_cluster = f" ON CLUSTER {quote_identifier(cluster)}" if cluster else ""
    statements = upgrade_releases(layout, db, on_cluster)
    mirrored = tuple(Table(m.name, f"\n    {m.columns}", "MergeTree") for m in mirrored_tables())
    for table in (*TABLES, *mirrored):
        local = f"{table.name}_local" if distributed and table.name in SHARDED else table.name
        engine = table.engine
        args = table.engine_args
        if replicated:
            engine = "Replicated" + engine
            replica = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
            args = f"{replica}, {args}" if args else replica
        clauses = [f"ENGINE = {engine}({args})"]
        if table.partition_by:
            clauses.append(f"PARTITION BY {table.partition_by}")
        clauses.append(f"ORDER BY {table.order_by}")
        if ttl and table.ttl_column:
            clauses.append(f"TTL toDateTime({table.ttl_column}) + {ttl}")
        clauses.append(f"SETTINGS {table.settings}")
        statements.append(Statement(local, "table", (
            f"CREATE TABLE IF NOT EXISTS {db}.{quote_identifier(local)}{on_cluster} ({table.columns}\n)\n"
            + "\n".join(clauses)
        )))
        if local != table.name:
            assert cluster is not None
            statements.append(Statement(table.name, "table", (
                f"CREATE TABLE IF NOT EXISTS {db}.{quote_identifier(table.name)}{on_cluster} "
                f"AS {db}.{quote_identifier(local)}\n"
                f"ENGINE = Distributed({quote_identifier(cluster)}, {db}, {quote_identifier(local)}, rand())"
            )))
    chosen = feeds(layout)
    for feed in chosen:
        target = f"{feed.target}_local" if distributed and feed.target in SHARDED else feed.target
        statements.append(Statement(feed.view, "view", (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{quote_identifier(feed.view)}{on_cluster}\n"
            f"TO {db}.{quote_identifier(target)}\nAS {feed.view_sql()}"
        )))
    for name, select in mirrored_views().items():
        # Replaced on every run: the view is the migration's SELECT as this version rewrites it.
        statements.append(Statement(name, "view", (
            f"CREATE OR REPLACE VIEW {db}.{quote_identifier(name)}{on_cluster} AS\n{select}"
        )))
    statements.append(Statement("liveobs_clickhouse_schema", "table", (
        f"INSERT INTO {db}.liveobs_clickhouse_schema (Version, Name, AppliedAt) "
        f"SELECT {SCHEMA_VERSION}, 'liveobs tables and views', now() "
        f"WHERE {SCHEMA_VERSION} NOT IN (SELECT Version FROM {db}.liveobs_clickhouse_schema)"
    )))
    return Plan(statements, chosen)


def upgrade_releases(layout: Layout, db: str, on_cluster: str) -> list[Statement]:
    """For a ``liveobs_releases`` of schema version 1: its count columns, and its view dropped so that the plan
    creates it again with the counts (they start then; rows indexed before hold 0)."""
    tables = [t for t in ("liveobs_releases", "liveobs_releases_local") if layout.has(t)]
    if not tables or all(layout.has_column(t, "Spans") for t in tables):
        return []
    columns = ", ".join(f"ADD COLUMN IF NOT EXISTS {c.strip()}" for c in RELEASE_COUNTS.split(",\n"))
    out = [Statement(t, "alter", f"ALTER TABLE {db}.{quote_identifier(t)}{on_cluster} {columns}") for t in tables]
    out.append(Statement("liveobs_releases_mv", "alter",
                         f"DROP VIEW IF EXISTS {db}.{quote_identifier('liveobs_releases_mv')}{on_cluster}"))
    return out
