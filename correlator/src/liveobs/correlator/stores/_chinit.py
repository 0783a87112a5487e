"""``liveobs clickhouse init``: create liveobs's tables and views, then backfill what the exporter holds.

Order matters for completeness: each view is created before its backfill's cutoff is
taken, so a row the Collector inserts is either seen by the view (inserted after it
existed) or below the cutoff (backfilled); a row that is both (a late insert with an
old time) reaches a ``ReplacingMergeTree`` twice and collapses on merge. The backfill
walks the exporter table from its oldest row to the cutoff in batches of whole hours
of at most ``batch_rows`` rows (an hour holding more is one batch), records how far it
got after each batch, and continues from there when run again: a second ``init`` adds
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from liveobs.correlator.stores._base import Store, StoreOpenError
from liveobs.correlator.stores._chschema import Feed
from liveobs.correlator.stores._chtables import PROJECTIONS, Plan, exporter_ttl, plan
from liveobs.correlator.stores._clickhouse import quote_identifier

DEFAULT_BATCH_ROWS: Final = 1_000_000
Progress = Callable[[str, int, int], None]  # (feed, rows done, rows to do)

_TARGET_COLUMNS: Final = {
    "liveobs_correlation": ("Timestamp", "Signal", "ServiceName", "ServiceVersion", "TraceId", "SpanId", "EventId",
                            "SessionId", "RequestId", "RouteId", "ConnectionId", "EventName", "ErrorType"),
    "liveobs_errors": ("Timestamp", "Source", "ServiceName", "ServiceVersion", "Environment", "ErrorType",
                       "Fingerprint", "Message", "TraceId", "SpanId", "EventId", "SessionId", "RequestId", "RouteId"),
    "liveobs_releases": ("ServiceName", "Environment", "Release", "FirstSeen", "LastSeen", "Spans", "Requests",
                         "FirstRequest", "LastRequest"),
}


@dataclass(frozen=True, slots=True)
class FeedReport:
    feed: str
    rows: int  # source rows read by this run's batches
    batches: int
    already_done: bool


@dataclass(slots=True)
class InitReport:
    created: list[str] = field(default_factory=list)
    feeds: list[FeedReport] = field(default_factory=list)


def init_plan(
    store: Store, *, cluster: str | None = None, replicated: bool = False, distributed: bool = False,
    ttl_days: int | None = None,
) -> Plan:
    """The statements for this store: the TTL is the exporter's unless ``ttl_days`` is given (0: none)."""
    if store.engine != "clickhouse":
        raise StoreOpenError(f"{store.location} is a DuckDB store: `liveobs clickhouse init` needs a ClickHouse URL")
    layout = store.layout
    if not layout.has("otel_traces") and not layout.has("otel_logs"):
        raise StoreOpenError(
            f"{store.location} has neither otel_traces nor otel_logs: point the Collector's ClickHouse exporter "
            "at this database first (or name the right one in the URL)", missing=True,
        )
    if ttl_days is None:
        rows = store.query("SELECT create_table_query FROM system.tables WHERE database = {db:String} "
                           "AND name = 'otel_traces'", {"db": store.database})
        ttl = exporter_ttl(str(rows[0][0])) if rows else None
    else:
        ttl = f"toIntervalDay({ttl_days})" if ttl_days > 0 else None
    return plan(layout, cluster=cluster, replicated=replicated, distributed=distributed, ttl=ttl)


def run_init(
    store: Store, built: Plan, *, batch_rows: int = DEFAULT_BATCH_ROWS, progress: Progress | None = None
) -> InitReport:
    """Create what ``built`` lists (idempotent), then backfill each view's table."""
    report = InitReport()
    existing = set(store.layout.tables)
    for statement in built.statements:
        if statement.name not in existing and statement.kind in ("table", "view"):
            report.created.append(statement.name)
        store.execute(statement.sql)
    report.created = sorted(set(report.created) - existing)
    if "liveobs_correlation" in existing:
        report.created += add_projections(store)
    store.refresh_layout()
    for feed in built.feeds:
        report.feeds.append(backfill(store, feed, batch_rows=batch_rows, progress=progress))
    return report


def add_projections(store: Store) -> list[str]:
    """Give a correlation index created before its projections existed the ones it lacks, built for the
    rows it holds already (a table created by this version has them: nothing to do)."""
    tables = [r[0] for r in store.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' "
        "AND name IN ('liveobs_correlation', 'liveobs_correlation_local')", {"db": store.database})]
    added: list[str] = []
    for table in tables:
        have = {r[0] for r in store.query(
            "SELECT name FROM system.projections WHERE database = {db:String} AND table = {t:String}",
            {"db": store.database, "t": table})}
        name = quote_identifier(table)
        for projection, select in PROJECTIONS.items():
            if projection in have:
                continue
            store.execute(f"ALTER TABLE {name} MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'")
            store.execute(f"ALTER TABLE {name} ADD PROJECTION IF NOT EXISTS {projection} ({select})")
            store.execute(f"ALTER TABLE {name} MATERIALIZE PROJECTION {projection} SETTINGS mutations_sync = 1")
            added.append(f"{table}.{projection}")
    return added


def _state(store: Store, feed: Feed) -> tuple[int, int, int] | None:
    """(cutoff ns, done ns, rows so far) of the feed's backfill, None before its first run."""
    rows = store.query(
        "SELECT toUnixTimestamp64Nano(Cutoff), toUnixTimestamp64Nano(Done), Rows FROM liveobs_backfill FINAL "
        "WHERE Feed = {feed:String}", {"feed": feed.view},
    )
    return (int(rows[0][0]), int(rows[0][1]), int(rows[0][2])) if rows else None


def _save(store: Store, feed: Feed, cutoff_ns: int, done_ns: int, total: int) -> None:
    store.execute(
        "INSERT INTO liveobs_backfill (Feed, Cutoff, Done, Rows, UpdatedAt) SELECT {feed:String}, "
        "fromUnixTimestamp64Nano({cutoff:Int64}), fromUnixTimestamp64Nano({done:Int64}), {rows:UInt64}, now64(6)",
        {"feed": feed.view, "cutoff": cutoff_ns, "done": done_ns, "rows": total},
    )


def _ns(store: Store, sql: str, params: dict[str, Any] | None = None) -> int | None:
    value = store.query(sql, params)[0][0]
    return None if value is None else int(value)


def backfill(store: Store, feed: Feed, *, batch_rows: int = DEFAULT_BATCH_ROWS, progress: Progress | None = None) -> FeedReport:
    """Index the rows of ``feed.source`` older than the view, from where the last run stopped."""
    source = quote_identifier(feed.source)
    state = _state(store, feed)
    if state is None:
        cutoff = _ns(store, "SELECT toUnixTimestamp64Nano(now64(9))")
        assert cutoff is not None
        oldest = _ns(store, f"SELECT if(count() = 0, NULL, toUnixTimestamp64Nano(min(Timestamp))) FROM {source} "
                            "WHERE Timestamp < fromUnixTimestamp64Nano({cutoff:Int64})", {"cutoff": cutoff})
        done, total = (oldest if oldest is not None else cutoff), 0
        _save(store, feed, cutoff, done, total)
    else:
        cutoff, done, total = state
    if done >= cutoff:
        return FeedReport(feed.view, 0, 0, already_done=True)
    hours = store.query(
        f"SELECT toUnixTimestamp64Nano(toDateTime64(toStartOfHour(Timestamp), 9)) AS h, count() FROM {source} "
        "WHERE Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64}) "
        "GROUP BY h ORDER BY h", {"lo": done, "hi": cutoff},
    )
    to_do = sum(int(n) for _, n in hours)
    columns = ", ".join(_TARGET_COLUMNS[feed.target])
    insert = (f"INSERT INTO {quote_identifier(feed.target)} ({columns}) "
              f"SELECT {columns} FROM ({feed.batch_sql()})")
    read = batches = 0
    for lo, hi, rows in _batches([(int(h), int(n)) for h, n in hours], done, cutoff, batch_rows):
        store.execute(insert, {"lo": lo, "hi": hi})
        read += rows
        batches += 1
        _save(store, feed, cutoff, hi, total + read)
        if progress is not None:
            progress(feed.view, read, to_do)
    return FeedReport(feed.view, read, batches, already_done=False)


def _batches(hours: list[tuple[int, int]], done: int, cutoff: int, limit: int) -> list[tuple[int, int, int]]:
    """[lo, hi) ranges of whole hours holding at most ``limit`` rows each (one hour may hold more)."""
    out: list[tuple[int, int, int]] = []
    lo, rows = done, 0
    for index, (hour, count) in enumerate(hours):
        if rows and rows + count > limit:
            out.append((lo, hour, rows))
            lo, rows = hour, 0
        rows += count
        if index == len(hours) - 1:
            out.append((lo, cutoff, rows))
    return out
