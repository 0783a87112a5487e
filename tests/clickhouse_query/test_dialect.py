"""Every packaged query rewritten for ClickHouse, and run on chdb over the exporter's tables in both layouts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest

from liveobs.correlator import _incidents, _trace_sql
from liveobs.correlator._dialect import UnsupportedSQLError, bind, clickhouse_type, to_clickhouse
from liveobs.correlator._incidents import incidents
from liveobs.correlator._readapi import NotFoundError
from liveobs.correlator._sqlcursor import ClickHouseCursor, QueryError, cursor_for
from liveobs.correlator._trace import trace
from liveobs.correlator.gates import Subject, _budgets, _releases, run_gates
from liveobs.correlator.gates._catalogue import load_checks, scope_statements
from liveobs.correlator.stores import Store, open_store
from liveobs.correlator.stores._chinit import init_plan, run_init
from liveobs.correlator.stores._exporter import exporter_ddl


def packaged_queries() -> dict[str, str]:
    """Every SQL text the correlator runs against a store to answer trace, incidents and the gates."""
    found = {f"trace.{n}": v for n, v in vars(_trace_sql).items() if n.isupper() and isinstance(v, str)
             and not n.startswith("_")}
    found |= {"incidents": _incidents._INCIDENTS, "incidents.stack": _incidents._SPAN_STACK,
              "releases.spans": _releases._SPAN_RELEASES, "releases.logs": _releases._LOG_RELEASES,
              "releases.services": _releases._SERVICES, "budgets.services": _budgets.STORED_SERVICES}
    for script in ("scope.sql", "baseline.sql"):
        found |= {f"{script}:{s.creates}": s.sql for s in scope_statements(script)}
    found |= {c.id: c.body for c in load_checks()}
    return found


@pytest.mark.parametrize("name", sorted(packaged_queries()))
def test_every_packaged_query_is_rewritten_for_clickhouse(name: str) -> None:
    sql = to_clickhouse(packaged_queries()[name])
    assert re.search(r"\$[A-Za-z_]", sql) is None
    assert sql.endswith("session_timezone = 'UTC'")


def test_parameters_are_typed_by_their_values() -> None:
    sql, values = bind(to_clickhouse("SELECT * FROM t WHERE a = ? AND b IN $names AND c >= $since"),
                       {"p1": None, "names": ["x"], "since": datetime(2026, 1, 1)})
    assert "{p1:Nullable(String)}" in sql
    assert "{names:Array(String)}" in sql
    assert "{since:DateTime64(6)}" in sql
    assert values["names"] == ["x"]
    assert [clickhouse_type(v) for v in (True, 3, 1.5, "s", [1, 2], [])] == [
        "Bool", "Int64", "Float64", "String", "Array(Int64)", "Array(String)"]


def test_duckdb_semantics_are_kept() -> None:
    assert "mapContains" in to_clickhouse("SELECT m['k'] FROM t")
    assert "nullIf(indexOf(k, 'x'), 0)" in to_clickhouse("SELECT v[list_position(k, 'x')] FROM t")
    assert "countIf(a > 1)" in to_clickhouse("SELECT count(*) FILTER (WHERE a > 1) FROM t")
    assert "LEFT SEMI JOIN" in to_clickhouse("SELECT * FROM a SEMI JOIN b ON a.x = b.x")
    with pytest.raises(UnsupportedSQLError, match="FILTER"):
        to_clickhouse("SELECT mode(x) FILTER (WHERE y) FROM t")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    """Empty exporter tables in one chdb folder: the current layout indexed by ``clickhouse init``, and the
    legacy one (logs with ``TimestampTime``, metric times in whole seconds) without it."""
    folder = tmp_path_factory.mktemp("layouts") / "chdb"
    stores: dict[str, Store] = {}
    for name, layout, metric_time in (("current", "current", "DateTime64(9)"), ("legacy", "legacy", "DateTime")):
        store = open_store(f"chdb://{folder}?database={name}", create=True)
        for statement in exporter_ddl(store.database, layout=layout, metric_time=metric_time):  # type: ignore[arg-type]
            store.execute(statement)
        store.refresh_layout()
        if name == "current":
            run_init(store, init_plan(store))
        stores[name] = store
    yield stores
    for store in stores.values():
        store.close()


@pytest.mark.parametrize("layout", ["current", "legacy"])
def test_every_check_runs_on_an_empty_store(layouts: dict[str, Store], layout: str) -> None:
    report = run_gates(cursor_for(layouts[layout]), "all", Subject(service="shop", release="1.0", baseline="0.9"))
    assert len(report.results) == len(load_checks())
    failed = [f"{r.id}: {r.reason}" for r in report.results if r.reason.startswith("query failed")]
    assert failed == []


@pytest.mark.parametrize("layout", ["current", "legacy"])
def test_trace_and_incidents_run_on_an_empty_store(layouts: dict[str, Store], layout: str) -> None:
    cur = cursor_for(layouts[layout])
    assert incidents(cur, since="7d", release="1.0", service="shop") == []
    for query in ({"event_id": "01JEVT00000000000000000001"}, {"request_id": "req-1"}, {"session_id": "s-1"},
                  {"trace_id": "0123456789abcdef0123456789abcdef"}):
        with pytest.raises(NotFoundError):
            trace(cur, **query)


def test_an_engine_error_is_a_query_error(layouts: dict[str, Store]) -> None:
    cur = cursor_for(layouts["current"])
    assert isinstance(cur, ClickHouseCursor)
    with pytest.raises(QueryError, match="no_such_table"):
        cur.execute("SELECT * FROM no_such_table")



def test_catalogue_maps_and_filtered_any_value_run_on_chdb(layouts: dict[str, Store]) -> None:
    """What the web view, the gate-run log and ``release record`` ask besides the packaged queries."""
    cur = cursor_for(layouts["current"])
    found = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", ["liveobs_gate_runs"]).fetchall()
    assert found == [(1,)]
    assert cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'nope'").fetchall() == [(0,)]
    assert cur.execute("SELECT MAP(?::VARCHAR[], ?::VARCHAR[]) AS m", [["k"], ["v"]]).fetchall() == [({"k": "v"},)]
    row = cur.execute("SELECT any_value(x) FILTER (WHERE x > 1), any_value(x) FROM "
                      "(SELECT unnest([NULL, 1, 2]) AS x)").fetchall()
    assert row == [(2, 1)]
