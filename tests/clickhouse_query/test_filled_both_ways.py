"""One OTLP input filled both ways, the Collector's exporter into chdb (indexed by ``liveobs clickhouse init``'s
views and backfill) and ``liveobs collect`` into DuckDB: trace, incidents and the gates answer the same."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from liveobs.correlator._incidents import incidents
from liveobs.correlator._sqlcursor import cursor_for
from liveobs.correlator._trace import trace
from liveobs.correlator.gates import Subject, run_gates
from liveobs.correlator.stores import Store, open_store
from liveobs.correlator.stores._chinit import init_plan, run_init
from liveobs.correlator.stores._exporter import exporter_ddl

_LOADER = Path(__file__).resolve().parents[1] / "clickhouse"
if str(_LOADER) not in sys.path:
    sys.path.append(str(_LOADER))

from ch_corpus import otlp_input  # noqa: E402
from ch_loader import load_clickhouse, load_duckdb  # noqa: E402

SEEDS = (1, 2)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[duckdb.DuckDBPyConnection, Store]]:
    """Seed 1 arrives before ``init`` (backfilled), seed 2 after it (indexed by the views as it is inserted)."""
    root = tmp_path_factory.mktemp("both")
    base = time.time_ns() - 3_600_000_000_000
    inputs = [otlp_input(base + n * 60_000_000_000, seed=seed) for n, seed in enumerate(SEEDS)]
    for otlp in inputs:
        load_duckdb(root / "store.duckdb", otlp)
    store = open_store(f"chdb://{root / 'chdb'}", create=True)
    for statement in exporter_ddl(store.database, layout="current"):
        store.execute(statement)
    store.refresh_layout()
    load_clickhouse(store, inputs[0])
    run_init(store, init_plan(store))
    load_clickhouse(store, inputs[1])
    duck = duckdb.connect(str(root / "store.duckdb"), read_only=True)
    yield duck, store
    duck.close()
    store.close()


@pytest.fixture(scope="module")
def bare(filled: tuple[duckdb.DuckDBPyConnection, Store]) -> Iterator[Store]:
    """The same input in another database of the same chdb folder, without ``liveobs clickhouse init``."""
    _duck, indexed = filled
    store = open_store(f"chdb://{indexed.url.path}?database=bare", create=True)
    for statement in exporter_ddl(store.database, layout="current"):
        store.execute(statement)
    store.refresh_layout()
    for table in ("otel_traces", "otel_logs"):
        store.execute(f"INSERT INTO bare.{table} SELECT * FROM {indexed.database}.{table}")
    assert not store.layout.has("liveobs_correlation")
    yield store
    store.close()


def _trace_ids(duck: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in duck.execute("SELECT DISTINCT TraceId FROM otel_traces ORDER BY 1").fetchall()]


def test_every_trace_answers_the_same(filled: tuple[duckdb.DuckDBPyConnection, Store]) -> None:
    duck, store = filled
    ids = _trace_ids(duck)
    assert len(ids) == 4 * len(SEEDS)
    for trace_id in ids:
        on_duckdb = trace(duck, trace_id=trace_id).to_dict()
        on_clickhouse = trace(cursor_for(store), trace_id=trace_id).to_dict()
        assert {k: v for k, v in on_clickhouse.items() if on_duckdb[k] != v} == {}, {
            k: v for k, v in on_duckdb.items() if on_clickhouse[k] != v}


def test_request_and_session_ids_resolve_the_same(filled: tuple[duckdb.DuckDBPyConnection, Store]) -> None:
    duck, store = filled
    queries = [{kind: row[0]} for kind, column in (("request_id", "RequestId"), ("session_id", "SessionId"))
               for row in duck.execute(f"SELECT DISTINCT {column} FROM liveobs_correlation WHERE {column} IS NOT NULL "
                                       "ORDER BY 1").fetchall()]
    assert len(queries) == 2 * len(SEEDS)
    for query in queries:
        on_duckdb: dict[str, Any] = trace(duck, **query).to_dict()
        assert trace(cursor_for(store), **query).to_dict() == on_duckdb


def test_incidents_answer_the_same(filled: tuple[duckdb.DuckDBPyConnection, Store]) -> None:
    duck, store = filled
    on_duckdb = [i.to_dict() for i in incidents(duck)]
    assert on_duckdb
    assert on_duckdb[0]["count"] == len(SEEDS)
    assert [i.to_dict() for i in incidents(cursor_for(store))] == on_duckdb


def test_gates_judge_the_same(filled: tuple[duckdb.DuckDBPyConnection, Store]) -> None:
    duck, store = filled
    subject = Subject(service="shop")
    on_duckdb = run_gates(duck, "all", subject)
    on_clickhouse = run_gates(cursor_for(store), "all", subject)
    assert on_clickhouse.subject == on_duckdb.subject
    assert ([(r.id, r.status, r.reason, r.observed, r.evidence) for r in on_clickhouse.results]
            == [(r.id, r.status, r.reason, r.observed, r.evidence) for r in on_duckdb.results])


def test_without_liveobs_tables_the_answers_are_the_same(
    filled: tuple[duckdb.DuckDBPyConnection, Store], bare: Store
) -> None:
    duck, _ = filled
    for trace_id in _trace_ids(duck):
        assert trace(cursor_for(bare), trace_id=trace_id).to_dict() == trace(duck, trace_id=trace_id).to_dict()
    event_ids = [r[0] for r in duck.execute(
        "SELECT DISTINCT EventId FROM liveobs_correlation WHERE EventId IS NOT NULL ORDER BY 1").fetchall()]
    assert len(event_ids) == len(SEEDS)
    for event_id in event_ids:
        assert trace(cursor_for(bare), event_id=event_id).to_dict() == trace(duck, event_id=event_id).to_dict()
    assert [i.to_dict() for i in incidents(cursor_for(bare))] == [i.to_dict() for i in incidents(duck)]
