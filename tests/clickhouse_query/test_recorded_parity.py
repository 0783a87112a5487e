"""What liveobs records itself answers the same on ClickHouse: release records, dry runs, kept baselines.

Releases are recorded by ``liveobs release record`` into a DuckDB file and, by the same command,
into a chdb store whose tables ``liveobs clickhouse init`` made; the traffic is written once
(into DuckDB) and copied. Baselines whose raw rows DuckDB's retention deleted are read from
the samples it kept, copied unchanged. Then the deploy and regression checks and the changed
surface must judge the same on both engines.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import gate_seed as seed
import pytest
from click.testing import CliRunner
from exporter_tables import copy_store, open_chdb

from liveobs.cli import main
from liveobs.correlator._sqlcursor import cursor_for
from liveobs.correlator._urlstore import UrlStore
from liveobs.correlator.gates import GateReport, Subject, run_gates
from liveobs.correlator.releases import select_changed
from liveobs.correlator.releases._record import dry_run_handler
from liveobs.correlator.stores import Store, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "releases"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "correlator"))
from layouts import build_wheel
from release_specs import NEW, OLD, ROUTES_NEW, ROUTES_OLD, make_root
from test_retention_kept import KEPT_CHECKS, _retain_before, _store
from traffic import START, ReleaseEvidence, anonymous, denial, process_attributes, serve, write

DEPLOY_CHECKS = ("deploy.release_layout", "deploy.release_artifact", "deploy.rollback", "deploy.surface_endpoint",
                 "deploy.surface_auth", "deploy.surface_scope", "deploy.release_notes", "deploy.dry_run",
                 "deploy.surface_persistence", "deploy.security_incidents")


def _judged(report: GateReport) -> list[tuple[str, str, str, float | None, int]]:
    return [(r.id, r.status.value, r.reason, r.observed, r.evidence) for r in report.results]


def _cli(db: str, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--db", db, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The two releases recorded into a DuckDB file and a chdb store, with the same traffic and dry run."""
    folder = tmp_path_factory.mktemp("recorded")
    wheels = {OLD: build_wheel(folder / "wheels" / OLD, OLD, ROUTES_OLD),
              NEW: build_wheel(folder / "wheels" / NEW, NEW, ROUTES_NEW)}
    root = make_root(folder / "deploy", wheels)
    db, chdb = folder / "store.duckdb", f"chdb://{folder / 'chdb'}?database=otel"
    open_chdb(folder / "chdb").close()
    for target in (str(db), chdb):
        for version in (OLD, NEW):
            done = _cli(target, "release", "record", str(root), "--version", version)
            assert done.exit_code == 0, done.output
    e = ReleaseEvidence(service="relapp", process={v: process_attributes(root, v) for v in (OLD, NEW)})
    serve(e, OLD, START)
    later = START + timedelta(minutes=80)
    serve(e, NEW, later, minutes=10, requests=30, routes=("/board", "/board/sorted"), events=("move", "sort"))
    anonymous(e, NEW, later + timedelta(minutes=1), "/board/sorted", 401)
    denial(e, NEW, later + timedelta(minutes=2), scope="board:sort", capability="board.sort")
    write(db, e)
    # One dry run: a unit answered as it should, another with the wrong digest.
    probes = [_probe("relapp-api", "/readyz", "release"), _probe("relapp-ui", "/live/readiness.json", "checkout")]
    params = {"run_id": "dry-1", "service": "relapp", "version": NEW, "probes": probes}
    con = duckdb.connect(str(db))
    try:
        dry_run_handler(con, params)
    finally:
        con.close()
    with UrlStore(open_store(chdb)) as store:
        dry_run_handler(store.connection, params)  # type: ignore[arg-type]
        duck = duckdb.connect(str(db), read_only=True)
        try:
            _copy_evidence(duck, store.backend)
        finally:
            duck.close()
    return db, chdb


def _probe(unit: str, path: str, source: str) -> dict[str, Any]:
    return {"unit": unit, "path": path, "port": 18001, "http_status": 200, "health_status": "pass",
            "reported_version": NEW, "reported_digest": None, "reported_source": source,
            "reported_directory": None, "problem": None}


def _copy_evidence(duck: duckdb.DuckDBPyConnection, store: Store) -> None:
    """The traffic into ClickHouse; the release records stay as each engine's own ``release record`` wrote them."""
    kept = {t: store.query(f"SELECT * FROM {t}") for t in _RECORD_TABLES}
    copy_store(duck, store)
    for table, rows in kept.items():
        store.execute(f"TRUNCATE TABLE {table}")
        if rows:
            store.insert(table, [list(r) for r in rows], list(rows.columns))  # type: ignore[attr-defined]


_RECORD_TABLES = ("liveobs_release_manifests", "liveobs_release_artifacts", "liveobs_release_units",
                  "liveobs_release_surface", "liveobs_release_docs", "liveobs_release_dryruns")


def _facts(cur: Any) -> list[tuple[Any, ...]]:
    """The recorded facts that do not depend on when they were recorded, in one order."""
    rows = cur.execute(
        "SELECT Version, RollbackVersion, Reversible, Digest, RollbackDigest, SchemaVersion, Problems, "
        "SecurityErrorClasses FROM liveobs_release_manifests ORDER BY Version").fetchall()
    rows += cur.execute("SELECT Version, Kind, Name, Method, Change, Auth, RollbackAuth, Scope, RollbackScope, "
                        "Capability, RollbackVersion FROM liveobs_release_changes "
                        "ORDER BY Version, Kind, Name, Method").fetchall()
    rows += cur.execute("SELECT Version, Unit, Program, Environment, Readiness, PortEnv, Problems "
                        "FROM liveobs_release_units ORDER BY Version, Unit").fetchall()
    rows += cur.execute("SELECT Version, Path, Sha256 FROM liveobs_release_docs ORDER BY Version, Path").fetchall()
    return [tuple(list(v) if isinstance(v, tuple) else v for v in row) for row in rows]


def test_release_record_writes_the_same_facts_on_both_engines(recorded: tuple[Path, str]) -> None:
    db, chdb = recorded
    duck = duckdb.connect(str(db), read_only=True)
    try:
        on_duckdb = _facts(duck)
    finally:
        duck.close()
    with UrlStore(open_store(chdb)) as store:
        on_clickhouse = _facts(store.connection)
    assert any(row[0] == NEW and "added" in row for row in on_duckdb)
    assert on_clickhouse == on_duckdb


def test_deploy_checks_and_the_changed_surface_judge_the_same(recorded: tuple[Path, str]) -> None:
    db, chdb = recorded
    subject = Subject(service="relapp", release=NEW)
    duck = duckdb.connect(str(db), read_only=True)
    try:
        on_duckdb = [_judged(run_gates(duck, check, subject))[0] for check in DEPLOY_CHECKS]
        changed_duckdb = [s.to_dict() for s in select_changed(duck, "relapp", NEW)]
    finally:
        duck.close()
    with UrlStore(open_store(chdb)) as store:
        on_clickhouse = [_judged(run_gates(store.connection, check, subject))[0] for check in DEPLOY_CHECKS]
        changed_clickhouse = [s.to_dict() for s in select_changed(store.connection, "relapp", NEW)]  # type: ignore[arg-type]
    statuses = {check: status for check, status, *_ in on_duckdb}
    assert statuses["deploy.surface_auth"] == "pass"
    assert statuses["deploy.dry_run"] == "fail"  # the second unit ran from a checkout
    assert on_clickhouse == on_duckdb
    assert changed_clickhouse == changed_duckdb
    assert {s["gate"] for s in changed_duckdb} >= {"endpoint", "scope"}


def test_a_rerecorded_release_replaces_its_facts_on_clickhouse(recorded: tuple[Path, str], tmp_path: Path) -> None:
    _, chdb = recorded
    with UrlStore(open_store(chdb)) as store:
        before = store.sql("SELECT count(*) FROM liveobs_release_surface WHERE Version = $v", {"v": NEW})[0][0]
    root = Path(str(recorded[0].parent / "deploy"))
    again = _cli(chdb, "release", "record", str(root), "--version", NEW)
    assert again.exit_code == 0, again.output
    with UrlStore(open_store(chdb)) as store:
        assert store.sql("SELECT count(*) FROM liveobs_release_surface WHERE Version = $v", {"v": NEW})[0][0] == before
        assert store.sql("SELECT count(*) FROM liveobs_release_manifests WHERE Version = $v", {"v": NEW})[0][0] == 1


def test_release_record_on_a_clickhouse_without_init_says_what_to_run(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    with open_store(f"chdb://{folder}?database=otel", create=True):
        pass
    result = CliRunner().invoke(main, ["--db", f"chdb://{folder}?database=otel", "release", "record", str(tmp_path)])
    assert result.exit_code == 3
    assert "clickhouse init" in result.output


@pytest.fixture
def kept_baseline(tmp_path: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, Store]]:
    """A baseline whose raw rows DuckDB's retention deleted (its kept samples remain), and the same in chdb."""
    con = _store(n=200, scale=1.6)
    _retain_before(con, seed.START + 2 * timedelta(hours=1))
    store = open_chdb(tmp_path / "chdb")
    copy_store(con, store)
    yield con, store
    store.close()
    con.close()


def test_regression_checks_read_kept_baselines_the_same_on_both_engines(
    kept_baseline: tuple[duckdb.DuckDBPyConnection, Store]
) -> None:
    con, store = kept_baseline
    kept = store.query("SELECT count() FROM liveobs_kept_spans WHERE Release = '1.0'")[0][0]
    assert kept > 0
    subject = Subject(service="shop", release="1.1")
    on_duckdb = run_gates(con, "performance", subject)
    on_clickhouse = run_gates(cursor_for(store), "performance", subject)
    assert on_clickhouse.subject.baseline == on_duckdb.subject.baseline == "1.0"
    judged = [j for j in _judged(on_duckdb) if j[0] in KEPT_CHECKS]
    assert {status for _, status, *_ in judged} == {"fail"}
    assert [j for j in _judged(on_clickhouse) if j[0] in KEPT_CHECKS] == judged


def test_check_changed_selects_and_judges_the_same_on_both_engines(recorded: tuple[Path, str]) -> None:
    db, chdb = recorded
    args = ("check", "changed", "--service", "relapp", "--release", NEW, "--json")
    on_duckdb, on_clickhouse = _cli(str(db), *args), _cli(chdb, *args)
    assert on_clickhouse.exit_code == on_duckdb.exit_code, on_clickhouse.output
    d, c = json.loads(on_duckdb.stdout), json.loads(on_clickhouse.stdout)
    assert [(r["id"], r["status"], r["reason"]) for r in c["checks"]] == [
        (r["id"], r["status"], r["reason"]) for r in d["checks"]]
    assert any(r["id"] == "deploy.surface_auth" for r in d["checks"])
    assert "not recorded" not in on_clickhouse.stderr
