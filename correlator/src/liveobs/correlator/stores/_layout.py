"""What a store holds, found by inspecting it: never by asking anyone to migrate.

The OpenTelemetry Collector's ClickHouse exporter has shipped its tables in more
than one shape. Its older logs table has ``TimestampTime DateTime`` and is
ordered by ``(ServiceName, TimestampTime, Timestamp)``; the newer one has no
``TimestampTime`` and is ordered by ``(toStartOfFiveMinutes(Timestamp),
ServiceName, Timestamp)``; ``EventName`` arrived later still. Metric and trace-id
lookup times are ``DateTime64(9)`` or ``DateTime`` depending on the release.
:class:`Layout` records what one store has, so a query can pick the right
expression instead of failing on a column that is not there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

EXPORTER_TABLES: Final = (
    "otel_traces",
    "otel_traces_trace_id_ts",
    "otel_logs",
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "otel_metrics_exp_histogram",
    "otel_metrics_summary",
)
METRIC_TABLES: Final = EXPORTER_TABLES[3:]

LogsLayout = Literal["five_minutes", "timestamp_time", "duckdb", "absent", "other"]
TimeKind = Literal["DateTime64", "DateTime", "TIMESTAMP_NS", "TIMESTAMP", "absent", "other"]


@dataclass(frozen=True, slots=True)
class TableShape:
    """One table or view: its columns (name → engine type), engine and sort key."""

    name: str
    columns: Mapping[str, str]
    engine: str = ""  # ClickHouse engine (MergeTree, MaterializedView…); "BASE TABLE"/"VIEW" on DuckDB
    sorting_key: str = ""  # ClickHouse ORDER BY expression; empty on DuckDB

    @property
    def is_view(self) -> bool:
        return self.engine in ("VIEW", "View", "MaterializedView")


def time_kind(engine_type: str) -> TimeKind:
    """The family of a time column's type: ``DateTime64(9, 'UTC')`` → ``DateTime64``."""
    base = engine_type.removeprefix("LowCardinality(").removeprefix("Nullable(")
    kinds: tuple[TimeKind, ...] = ("DateTime64", "DateTime", "TIMESTAMP_NS", "TIMESTAMP")
    for kind in kinds:
        if base == kind or base.startswith((kind + "(", kind + " ")):
            return kind
    return "other"


@dataclass(frozen=True, slots=True)
class Layout:
    """The inspected shape of one store's database."""

    engine: Literal["duckdb", "clickhouse"]
    database: str
    tables: Mapping[str, TableShape] = field(default_factory=lambda: MappingProxyType({}))

    def has(self, name: str) -> bool:
        return name in self.tables

    def columns(self, table: str) -> Mapping[str, str]:
        shape = self.tables.get(table)
        return shape.columns if shape is not None else MappingProxyType({})

    def has_column(self, table: str, column: str) -> bool:
        return column in self.columns(table)

    def time_kind(self, table: str, column: str) -> TimeKind:
        engine_type = self.columns(table).get(column)
        return "absent" if engine_type is None else time_kind(engine_type)

    @property
    def logs(self) -> LogsLayout:
        """Which shape ``otel_logs`` has (see the module docstring)."""
        shape = self.tables.get("otel_logs")
        if shape is None:
            return "absent"
        if self.engine == "duckdb":
            return "duckdb"
        if "TimestampTime" in shape.columns:
            return "timestamp_time"
        if "toStartOfFiveMinutes" in shape.sorting_key:
            return "five_minutes"
        return "other"

    @property
    def logs_event_name(self) -> bool:
        """Whether ``otel_logs`` has the ``EventName`` column (older exporter tables lack it)."""
        return self.has_column("otel_logs", "EventName")

    @property
    def metric_time(self) -> Mapping[str, TimeKind]:
        """Each present metric table's ``TimeUnix`` type family."""
        return MappingProxyType({t: self.time_kind(t, "TimeUnix") for t in METRIC_TABLES if t in self.tables})

    @property
    def missing_exporter_tables(self) -> tuple[str, ...]:
        return tuple(t for t in EXPORTER_TABLES if t not in self.tables)

    @property
    def liveobs_objects(self) -> frozenset[str]:
        """The liveobs tables and views present (``liveobs_*``)."""
        return frozenset(name for name in self.tables if name.startswith("liveobs_"))

    @property
    def liveobs_views(self) -> frozenset[str]:
        """The liveobs views present, e.g. the materialized views that index Collector inserts."""
        return frozenset(n for n in self.liveobs_objects if self.tables[n].is_view)

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary, for ``--json`` output and error messages."""
        return {
            "engine": self.engine,
            "database": self.database,
            "logs": self.logs,
            "logs_event_name": self.logs_event_name,
            "metric_time": dict(self.metric_time),
            "trace_id_ts_time": self.time_kind("otel_traces_trace_id_ts", "Start"),
            "missing_exporter_tables": list(self.missing_exporter_tables),
            "liveobs_tables": sorted(self.liveobs_objects - self.liveobs_views),
            "liveobs_views": sorted(self.liveobs_views),
        }


def build_layout(
    engine: Literal["duckdb", "clickhouse"],
    database: str,
    tables: Iterable[tuple[str, str, str]],
    columns: Iterable[tuple[str, str, str]],
) -> Layout:
    """A layout from ``(table, engine, sorting key)`` and ``(table, column, type)`` rows in column order."""
    by_table: dict[str, dict[str, str]] = {}
    for table, column, engine_type in columns:
        by_table.setdefault(table, {})[column] = engine_type
    shapes = {
        name: TableShape(name, MappingProxyType(by_table.get(name, {})), kind, sorting_key or "")
        for name, kind, sorting_key in tables
    }
    return Layout(engine, database, MappingProxyType(shapes))
