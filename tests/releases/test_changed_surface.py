"""`liveobs check changed` (gates chosen by the changed surface, each with why), and security incidents before redeploy."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NEW, OLD, SPEC_NEW, SPEC_OLD, make_root
from gate_seed import RELEASE_FACT_CHECKS
from test_deploy_checks import evidence, judge, prepare
from traffic import START, ReleaseEvidence, anonymous, process_attributes, serve, write

from liveobs.cli import main
from liveobs.correlator._db import connect
from liveobs.correlator.gates import Budgets, CheckResult, GateReport, Status, Subject
from liveobs.correlator.gates._runlog import SECURITY_MARKERS, record_run, security_affecting, security_runs


def check(db: Path, *args: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(main, ["--db", str(db), "check", "changed", "--service", "relapp", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.startswith("{") else {"error": result.output}


def test_check_changed_selects_the_gates_of_the_changed_surface_and_says_why(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    prepare(good_root, db)
    code, report = check(db, "--release", NEW)
    assert code in (1, 2), report  # performance and security evidence is not all there: never a pass
    notes = [str(n) for n in report["notes"]]  # type: ignore[union-attr]
    selected = {n.split(" ")[1]: n for n in notes if n.startswith("selected ")}
    assert set(selected) == {"deploy", "endpoint", "auth", "scope", "security", "performance", "persistence"}
    assert selected["endpoint"] == ("selected endpoint (deploy.surface_endpoint): declared: live event sort added, "
                                    "GET /board/sorted added")
    assert "GET /board/sorted (added, auth session)" in selected["auth"]
    assert "capability board.sort added, scope board:sort added" in selected["scope"]
    assert "migration migrations/0002_sort.sql added, schema version 1 -> 2" in selected["persistence"]
    ran = {c["id"]: c["status"] for c in report["checks"]}  # type: ignore[index, union-attr]
    assert {"deploy.surface_endpoint", "deploy.surface_auth", "deploy.surface_scope", "deploy.surface_persistence",
            "security.scope", "security.csp", "performance.render", "deploy.rollback"} <= set(ran)
    assert (ran["deploy.surface_endpoint"], ran["deploy.surface_auth"], ran["deploy.surface_scope"]) == ("pass",) * 3


def test_a_release_that_changes_no_surface_selects_the_deploy_checks_only(tmp_path: Path,
                                                                         wheels: dict[str, Path]) -> None:
    same = copy.deepcopy(SPEC_OLD)
    same.version, same.rollback = NEW, OLD
    same.notes = "# Changelog\n\n## [1.4.0]\n- Internal clean-up.\n"
    root = make_root(tmp_path / "deploy", wheels, new=same)
    db = tmp_path / "store.duckdb"
    e = ReleaseEvidence(service="relapp", process={OLD: process_attributes(root, OLD), NEW: process_attributes(root, NEW)})
    serve(e, OLD, START)
    serve(e, NEW, START + timedelta(minutes=80), minutes=10, requests=30)
    prepare(root, db, e)
    _, report = check(db, "--release", NEW)
    assert [n for n in report["notes"] if str(n).startswith("selected ")] == [  # type: ignore[union-attr]
        "selected deploy (deploy.*): every release: layout, units, artifact, dry run, rollback, notes, security "
        "incidents"]
    assert {c["id"].split(".")[0] for c in report["checks"]} == {"deploy"}  # type: ignore[index, union-attr]


def test_a_route_served_but_not_declared_selects_the_endpoint_gate(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    e = evidence(good_root)
    anonymous(e, NEW, START + timedelta(minutes=85), "/admin/export", 401)
    prepare(good_root, db, e)
    _, report = check(db, "--release", NEW)
    endpoint = next(str(n) for n in report["notes"] if str(n).startswith("selected endpoint"))  # type: ignore[union-attr]
    assert endpoint.endswith("served only by this release, not declared: GET /admin/export")


def test_check_changed_needs_a_recorded_release(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    connect(db).close()
    code, report = check(db, "--release", NEW)
    assert code == 3
    assert f"release {NEW} of relapp is not recorded" in str(report["error"])


def test_check_changed_needs_the_rollback_target_recorded_too(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    assert CliRunner().invoke(main, ["--db", str(db), "release", "record", str(good_root)]).exit_code == 0
    code, report = check(db, "--release", NEW)
    assert code == 3
    assert f"the rollback target {OLD} is not recorded: run liveobs release record ROOT --version {OLD}" in str(
        report["error"])


def test_without_recorded_releases_every_release_check_is_unknown_and_says_so(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    write(db, evidence(good_root))
    found = judge(db, *sorted(RELEASE_FACT_CHECKS - {"deploy.security_incidents"}))
    assert {s for s, _ in found.values()} == {"unknown"}, found
    assert all("recorded" in reason for _, reason in found.values()), found


# --- security incidents before redeploy -------------------------------------------------


def _incident(db: Path, at: datetime, error_type: str, route: str = "board") -> None:
    con = connect(db)
    try:
        con.execute("INSERT INTO liveobs_errors (\"Timestamp\", Source, ServiceName, ServiceVersion, Environment, "
                    "ErrorType, Fingerprint, Message, TraceId, RouteId) VALUES (?, 'span', 'relapp', ?, 'production', "
                    "?, ?, 'boom', '', ?)", [at, NEW, error_type, f"fp-{error_type}-{route}", route])
    finally:
        con.close()


def _security_gate_passed(db: Path, at: datetime) -> None:
    result = CheckResult("security.scope", "security", Status.PASS, True, "ok", 0.0, "<= 0", 3)
    con = connect(db)
    try:
        record_run(con, GateReport(Subject("relapp", NEW, "production"), (result,)), "security", "liveobs check",
                   ran_at=at)
    finally:
        con.close()


@pytest.mark.parametrize(("error_type", "route", "why"), [
    ("relapp.errors.PermissionDenied", "board", "its error class or route names a security marker"),
    ("relapp.errors.BoardLocked", "board", "error class BoardLocked is marked in the manifest"),
    ("KeyError", "board-admin", "route board-admin is marked in the manifest"),
])
def test_a_security_incident_after_the_last_security_gate_fails_the_deploy_gate(
        tmp_path: Path, wheels: dict[str, Path], error_type: str, route: str, why: str) -> None:
    new = copy.deepcopy(SPEC_NEW)
    new.security_error_classes, new.security_routes = ["BoardLocked"], ["board-admin"]
    root = make_root(tmp_path / "deploy", wheels, new=new)
    db = tmp_path / "store.duckdb"
    prepare(root, db)
    passed = datetime(2026, 5, 2, 9, 0)
    _security_gate_passed(db, passed)
    _incident(db, passed - timedelta(hours=1), error_type, route)
    status, reason = judge(db, "deploy.security_incidents")["deploy.security_incidents"]
    assert status == "pass", reason
    assert "all before the security gate passed at 2026-05-02 09:00:00 UTC" in reason
    _incident(db, passed + timedelta(minutes=5), error_type, route)  # the same incident, seen again
    status, reason = judge(db, "deploy.security_incidents")["deploy.security_incidents"]
    assert status == "fail"
    assert "1 security-affecting incidents newer than the last passing security gate (2026-05-02 09:00:00 UTC)" in reason
    assert why in reason


def test_an_ordinary_incident_does_not_hold_the_deploy_gate(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    prepare(good_root, db)
    _incident(db, datetime(2026, 5, 2, 9, 0), "relapp.errors.SortFailed")
    assert judge(db, "deploy.security_incidents")["deploy.security_incidents"][0] == "not_applicable"


def test_the_security_markers_of_the_check_are_the_incident_pages_markers() -> None:
    budget = Budgets.load().budget("deploy.security_incidents")
    assert tuple(budget.setting("security_markers")) == SECURITY_MARKERS


def test_a_failed_security_gate_run_does_not_clear_an_incident(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    prepare(good_root, db)
    _incident(db, datetime(2026, 5, 2, 8, 0), "relapp.errors.CsrfRejected")
    failed = CheckResult("security.csp", "security", Status.FAIL, True, "weak", 1.0, "<= 0", 3)
    con = connect(db)
    try:
        record_run(con, GateReport(Subject("relapp", NEW, "production"), (failed,)), "security", "liveobs check",
                   ran_at=datetime(2026, 5, 2, 9, 0))
    finally:
        con.close()
    status, reason = judge(db, "deploy.security_incidents")["deploy.security_incidents"]
    assert status == "fail"
    assert "none for this release" in reason


def test_the_incident_pages_rule_reads_the_manifests_marking_too(tmp_path: Path, wheels: dict[str, Path]) -> None:
    new = copy.deepcopy(SPEC_NEW)
    new.security_error_classes, new.security_routes = ["BoardLocked"], ["board-admin"]
    root = make_root(tmp_path / "deploy", wheels, new=new)
    db = tmp_path / "store.duckdb"
    prepare(root, db)
    for error_type, route in (("relapp.errors.BoardLocked", "board"), ("KeyError", "board-admin"),
                              ("KeyError", "board")):
        _incident(db, datetime(2026, 5, 2, 9, 0), error_type, route)
    con = connect(db)
    try:
        assert security_affecting(con, "fp-relapp.errors.BoardLocked-board", "relapp.errors.BoardLocked", ["board"])
        assert security_affecting(con, "fp-KeyError-board-admin", "KeyError", ["board-admin"])
        assert not security_affecting(con, "fp-KeyError-board", "KeyError", ["board"])
    finally:
        con.close()


def test_a_changed_run_that_selected_security_counts_as_a_security_gate_run(tmp_path: Path) -> None:
    result = CheckResult("security.scope", "security", Status.PASS, True, "ok", 0.0, "<= 0", 3)
    con = connect(tmp_path / "store.duckdb")
    try:
        for selection, day in (("deploy.*,security.*", 2), ("deploy.*,deploy.surface_endpoint", 3)):
            record_run(con, GateReport(Subject("relapp", NEW), (result,)), selection, "liveobs check",
                       ran_at=datetime(2026, 5, day))
        assert [r.selection for r in security_runs(con, NEW, datetime(2026, 5, 1))] == ["deploy.*,security.*"]
    finally:
        con.close()
