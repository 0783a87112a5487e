"""The correlation index's projections by session and by request id: created by ``liveobs clickhouse
init``, filled by the backfill and by the views, added to an index created without them, and read by
the trace lookup's queries instead of the whole index."""

from __future__ import annotations

import time

from ch_corpus import otlp_input
from ch_loader import load_clickhouse

from liveobs.correlator import _trace_sql as sql
from liveobs.correlator._dialect import bind, to_clickhouse
from liveobs.correlator._sqlcursor import derived_tables
from liveobs.correlator.stores import Store
from liveobs.correlator.stores._chinit import init_plan, run_init

HOUR_NS = 3_600_000_000_000
PROJECTIONS = {"by_session", "by_request"}


def _projection_rows(store: Store) -> dict[str, int]:
    return {name: int(n) for name, n in store.query(
        "SELECT name, sum(rows) FROM system.projection_parts WHERE database = currentDatabase() "
        "AND table = 'liveobs_correlation' AND active GROUP BY name")}


def _index_rows(store: Store) -> int:
    return int(store.query("SELECT count() FROM liveobs_correlation")[0][0])


def _run(store: Store, query: str, params: list[object] | dict[str, object], setting: str) -> list[tuple[object, ...]]:
    """``query`` as trace runs it on ClickHouse (liveobs's tables the store lacks read as SELECTs), with one
    more setting."""
    text, values = bind(to_clickhouse(query, derived_tables(store)), params)
    return list(store.query(text.replace(" SETTINGS ", f" SETTINGS {setting}, ", 1), values))


def _read_through(store: Store, projection: str, query: str, params: list[object] | dict[str, object]) -> list[tuple[object, ...]]:
    """The rows of ``query`` read through ``projection`` (ClickHouse refuses the query if it cannot use it),
    checked against the same query on the index itself."""
    found = _run(store, query, params, f"force_optimize_projection_name = '{projection}'")
    assert found == _run(store, query, params, "optimize_use_projections = 0")
    return found


def test_init_creates_the_projections_and_backfill_and_views_fill_them(exporter_store: Store) -> None:
    load_clickhouse(exporter_store, otlp_input(time.time_ns() - 3 * HOUR_NS, seed=3))
    run_init(exporter_store, init_plan(exporter_store))
    names = {r[0] for r in exporter_store.query(
        "SELECT name FROM system.projections WHERE database = currentDatabase() AND table = 'liveobs_correlation'")}
    assert names == PROJECTIONS
    backfilled = _index_rows(exporter_store)
    assert backfilled > 0
    assert _projection_rows(exporter_store) == dict.fromkeys(PROJECTIONS, backfilled)
    load_clickhouse(exporter_store, otlp_input(time.time_ns() - HOUR_NS, seed=4))
    viewed = _index_rows(exporter_store)
    assert viewed > backfilled
    assert _projection_rows(exporter_store) == dict.fromkeys(PROJECTIONS, viewed)


def test_session_and_request_lookups_read_their_projection(exporter_store: Store) -> None:
    load_clickhouse(exporter_store, otlp_input(time.time_ns() - 2 * HOUR_NS, seed=6))
    run_init(exporter_store, init_plan(exporter_store))
    # Events of many sessions, each session's scattered through the index (ordered by event id), as
    # live traffic leaves them: a bloom filter still reads most granules, a projection a few.
    exporter_store.execute(
        "INSERT INTO liveobs_correlation (Timestamp, Signal, ServiceName, TraceId, SpanId, EventId, SessionId, "
        "RequestId) SELECT now64(9) - toIntervalMillisecond(number), 'span', 'shop', hex(number), hex(number), "
        "concat('ev-', hex(MD5(toString(number)))), concat('s-', toString(number % 5000)), "
        "concat('r-', toString(number % 5000)) FROM numbers(200000)")
    at = time.time_ns()
    around = _read_through(exporter_store, "by_session", sql.SESSION_CONTEXT,
                           {"session": "s-7", "page_from": at - 2 * HOUR_NS, "around_from": at - HOUR_NS,
                            "until": at + HOUR_NS})
    assert len(around) == 40
    assert len(_read_through(exporter_store, "by_session", sql.TRACES_BY_SESSION, ["s-7"])) == 40
    assert len(_read_through(exporter_store, "by_request", sql.TRACES_BY_REQUEST, ["r-7"])) == 40


def test_init_adds_missing_projections_to_an_existing_index(exporter_store: Store) -> None:
    load_clickhouse(exporter_store, otlp_input(time.time_ns() - 2 * HOUR_NS, seed=8))
    run_init(exporter_store, init_plan(exporter_store))
    for name in sorted(PROJECTIONS):
        exporter_store.execute(f"ALTER TABLE liveobs_correlation DROP PROJECTION {name} SETTINGS mutations_sync = 1")
    assert _projection_rows(exporter_store) == {}
    report = run_init(exporter_store, init_plan(exporter_store))
    assert sorted(report.created) == ["liveobs_correlation.by_request", "liveobs_correlation.by_session"]
    assert _projection_rows(exporter_store) == dict.fromkeys(PROJECTIONS, _index_rows(exporter_store))
    assert run_init(exporter_store, init_plan(exporter_store)).created == []
