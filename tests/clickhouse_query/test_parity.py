"""The same data in DuckDB and in chdb (the exporter's tables) gives the same trace, incidents and gate results.

The DuckDB store is written by the real paths (the store generator, the gate seed); its rows are
copied unchanged into the exporter's ClickHouse tables; then every answer is compared.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import gate_seed as seed
import pytest
from exporter_tables import copy_store, open_chdb
from test_gates_checks import CASES

from liveobs.correlator._db import connect
from liveobs.correlator._incidents import incidents
from liveobs.correlator._sqlcursor import cursor_for
from liveobs.correlator._trace import trace
from liveobs.correlator.gates import Manifest, Subject, run_gates
from liveobs.correlator.stores import Store


@pytest.fixture(scope="module")
def chdb_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One chdb store for the module (chdb opens one data folder per process); each test loads its data."""
    store = open_chdb(tmp_path_factory.mktemp("parity") / "chdb")
    yield store
    store.close()


@pytest.fixture
def generated(tmp_path: Path, store_generator: ModuleType, chdb_module: Store) -> Iterator[tuple[Any, Any, Any]]:
    made = store_generator.generate(tmp_path / "store.duckdb", rows=4_000, seed=23)
    duck = duckdb.connect(str(made.path), read_only=True)
    copy_store(duck, chdb_module)
    yield made, duck, chdb_module
    duck.close()


def _ids(duck: duckdb.DuckDBPyConnection, made: Any) -> list[dict[str, str]]:
    request, session = duck.execute(
        "SELECT RequestId, SessionId FROM liveobs_correlation WHERE EventId = ? AND Signal = 'span' LIMIT 1",
        [made.sample_failing_event_id],
    ).fetchone() or (None, None)
    assert request
    assert session
    ok_event = duck.execute(
        "SELECT EventId FROM liveobs_correlation WHERE EventId IS NOT NULL AND ErrorType IS NULL "
        "AND Signal = 'span' ORDER BY EventId LIMIT 1"
    ).fetchone()
    assert ok_event is not None
    return [{"event_id": made.sample_failing_event_id}, {"trace_id": made.sample_failing_trace_id},
            {"request_id": request}, {"session_id": session}, {"event_id": ok_event[0]}]


def test_trace_answers_the_same_on_both_engines(generated: tuple[Any, Any, Store]) -> None:
    made, duck, store = generated
    for query in _ids(duck, made):
        on_duckdb = trace(duck, **query).to_dict()
        on_clickhouse = trace(cursor_for(store), **query).to_dict()
        assert on_clickhouse == on_duckdb, query
        assert on_duckdb["spans"], query


def test_incidents_answer_the_same_on_both_engines(generated: tuple[Any, Any, Store]) -> None:
    _, duck, store = generated
    on_duckdb = [i.to_dict() for i in incidents(duck)]
    assert len(on_duckdb) >= 2
    assert [i.to_dict() for i in incidents(cursor_for(store))] == on_duckdb
    release = on_duckdb[0]["releases"][0]
    assert ([i.to_dict() for i in incidents(cursor_for(store), release=release, limit=2)]
            == [i.to_dict() for i in incidents(duck, release=release, limit=2)])


GOOD = Manifest(current="1.1", rollback="1.0", service="shop", environment="production")
# Healthy evidence, each check's own defect, and each kind of evidence missing (the gate tests' table).
FAULTS = sorted({"", *(f for c in CASES for f in c.faults)})
SKIPS = sorted({s for c in CASES for s in c.skip})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b)


@pytest.mark.parametrize(("fault", "skip"), [*((f, "") for f in FAULTS), *(("", s) for s in SKIPS)])
def test_every_gate_judges_the_same_on_both_engines(fault: str, skip: str, chdb_module: Store) -> None:
    duck = connect()
    evidence = seed.Evidence()
    seed.add_release(evidence, "1.0", seed.START, n=60)
    seed.add_release(evidence, "1.1", seed.START + timedelta(hours=1), n=60, faults={fault} if fault else set(),
                     skip={skip} if skip else set())
    evidence.write(duck)
    copy_store(duck, chdb_module)
    subject = Subject(service="shop", release="1.1")
    on_duckdb = run_gates(duck, "all", subject, manifest=GOOD)
    on_clickhouse = run_gates(cursor_for(chdb_module), "all", subject, manifest=GOOD)
    assert [r.id for r in on_clickhouse.results] == [r.id for r in on_duckdb.results]
    differing = []
    for d, c in zip(on_duckdb.results, on_clickhouse.results, strict=True):
        same = d.status == c.status and d.evidence == c.evidence and _same(d.observed, c.observed)
        # Reasons quote measured floats; compare their text only where the values are the same to the last digit.
        same = same and (d.reason == c.reason or d.observed != c.observed)
        if not same:
            differing.append(f"{d.id}: duckdb {d.status} {d.reason!r} / clickhouse {c.status} {c.reason!r}")
    assert not differing, "\n".join(differing)
    assert on_clickhouse.exit_code == on_duckdb.exit_code
