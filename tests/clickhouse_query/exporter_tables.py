"""The exporter's tables in chdb, liveobs's correlation and error tables beside them, and copying a DuckDB store in.

The exporter's DDL is the store package's (the Collector's own templates). ``liveobs_correlation``
and ``liveobs_errors`` have the DuckDB store's columns (Nullable where DuckDB allows NULL); the
other liveobs tables are ``liveobs clickhouse init``'s. :func:`copy_store` writes a DuckDB store's rows into them unchanged, so
that one data set answers on both engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from liveobs.correlator.stores import Store, open_store
from liveobs.correlator.stores._chinit import init_plan
from liveobs.correlator.stores._chmirror import mirrored_tables
from liveobs.correlator.stores._exporter import exporter_ddl

LIVEOBS_DDL: tuple[str, ...] = (
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
# liveobs's tables that only liveobs writes: copied as they are (their columns are Nullable on ClickHouse).
RECORDED = ("liveobs_releases", "liveobs_gate_runs", "liveobs_gate_results",
            *(m.name for m in mirrored_tables()))


def open_chdb(folder: Path) -> Store:
    """A chdb store in ``folder`` with the exporter's tables and liveobs's, empty."""
    store = open_store(f"chdb://{folder}?database=otel", create=True)
    create_tables(store)
    return store


def create_tables(store: Store) -> None:
    """The exporter's current tables (as the exporter creates them), liveobs's correlation and error tables,
    and every other liveobs table and view as ``liveobs clickhouse init`` creates it (without the views that
    would index the exporter's tables: the copied index is the DuckDB store's)."""
    for statement in exporter_ddl(store.database, layout="current"):
        store.execute(statement)
    for statement in LIVEOBS_DDL:
        store.execute(statement)
    store.refresh_layout()
    built = init_plan(store, ttl_days=0)
    feeds = {feed.view for feed in built.feeds}
    for created in built.statements:
        if created.name not in feeds and not store.layout.has(created.name):
            store.execute(created.sql)
    store.refresh_layout()


_NULLABLE = frozenset({"ServiceName", "ServiceVersion", "TraceId", "SpanId", "EventId", "SessionId", "RequestId",
                       "RouteId", "ConnectionId", "EventName", "ErrorType", "Environment", "Message"})


def copy_store(duck: duckdb.DuckDBPyConnection, store: Any) -> dict[str, int]:
    """Every row of the copied tables, from a DuckDB store into ClickHouse (emptied first); rows per table."""
    for table in (*COPIED, *RECORDED, "otel_traces_trace_id_ts"):
        store.execute(f"TRUNCATE TABLE {table}")
    counts: dict[str, int] = {}
    for table in (*COPIED, *RECORDED):
        cur = duck.execute(f"SELECT {_columns(duck, table)} FROM {table}")
        columns = [d[0] for d in cur.description or ()]
        rows = cur.fetchall()
        counts[table] = len(rows)
        if not rows:
            continue
        exporter = table.startswith("otel_")
        kept = table in RECORDED and table != "liveobs_releases"
        batch = [
            [_empty(c) if v is None and not kept and (exporter or c not in _NULLABLE) else v
             for c, v in zip(columns, row, strict=True)]
            for row in rows
        ]
        store.insert(table, batch, columns)
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
