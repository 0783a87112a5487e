"""The deploy and changed-surface checks over real release layouts: the good one passes, each bad one fails with its reason."""

from __future__ import annotations

import copy
import sqlite3
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import NEW, OLD, SPEC_NEW, SPEC_OLD, make_root
from layouts import write_units
from traffic import START, ReleaseEvidence, anonymous, denial, process_attributes, serve, write

from liveobs.cli import main
from liveobs.correlator.gates import Subject, run_gates

RELEASE_CHECKS = ("deploy.release_layout", "deploy.release_artifact", "deploy.rollback", "deploy.surface_endpoint",
                  "deploy.surface_auth", "deploy.surface_scope", "deploy.release_notes")


def judge(db: Path, *checks: str) -> dict[str, tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for check in checks:
            result = run_gates(con, check, Subject(service="relapp", release=NEW)).results[0]
            out[check] = (result.status.value, result.reason)
        return out
    finally:
        con.close()


def release_cli(db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--db", str(db), "release", *args])
    return result.exit_code, result.output


def evidence(root: Path, *, anonymous_status: int = 401, denials: bool = True) -> ReleaseEvidence:
    """The rollback target's production traffic, then the new release's, as the SDK reports them."""
    e = ReleaseEvidence(service="relapp", process={OLD: process_attributes(root, OLD), NEW: process_attributes(root, NEW)})
    serve(e, OLD, START)
    later = START + timedelta(minutes=80)
    serve(e, NEW, later, minutes=10, requests=30, routes=("/board", "/board/sorted"), events=("move", "sort"))
    anonymous(e, NEW, later + timedelta(minutes=1), "/board/sorted", anonymous_status)
    if denials:
        denial(e, NEW, later + timedelta(minutes=2), scope="board:sort", capability="board.sort")
    return e


def prepare(root: Path, db: Path, e: ReleaseEvidence | None = None) -> None:
    for version in (OLD, NEW):
        release_cli(db, "record", str(root), "--version", version)
    write(db, e or evidence(root))


def rollback_data(tmp: Path) -> Path:
    data = tmp / "cards.sqlite"
    con = sqlite3.connect(data)
    con.executescript(SPEC_OLD.migrations["0001_init.sql"] + "INSERT INTO cards (title) VALUES ('first');")
    con.close()
    return data


def test_the_good_layout_passes_every_release_check(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    prepare(good_root, db)
    code, out = release_cli(db, "dry-run", str(good_root), "--version", NEW, "--data", str(rollback_data(tmp_path)))
    assert code == 0, out
    assert "persistence: migration migrations/0002_sort.sql" in out
    found = judge(db, *RELEASE_CHECKS, "deploy.dry_run", "deploy.surface_persistence", "deploy.security_incidents")
    assert {c: s for c, (s, _) in found.items()} == {
        **dict.fromkeys([*RELEASE_CHECKS, "deploy.dry_run", "deploy.surface_persistence"], "pass"),
        "deploy.security_incidents": "not_applicable"}, found
    assert "GET /board/sorted (added)" not in found["deploy.surface_endpoint"][1]
    assert "0002_sort.sql added" in found["deploy.surface_persistence"][1]


def test_a_rollback_target_that_is_the_current_artifact_relabelled_fails(tmp_path: Path, wheels: dict[str, Path]) -> None:
    root = make_root(tmp_path / "deploy", {OLD: wheels[NEW], NEW: wheels[NEW]})
    db = tmp_path / "store.duckdb"
    prepare(root, db)
    status, reason = judge(db, "deploy.rollback")["deploy.rollback"]
    assert status == "fail"
    assert "rollback target 1.3.2 is the same artifact as 1.4.0" in reason


def test_a_rollback_target_served_from_a_relabelled_checkout_fails(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    e = evidence(good_root)
    e.process[OLD] = {**process_attributes(good_root, OLD), "liveobs.release.source": "checkout"}
    del e.process[OLD]["liveobs.release.digest"]
    e.spans.clear()
    serve(e, OLD, START)
    serve(e, NEW, START + timedelta(minutes=80), minutes=10, requests=30)
    prepare(good_root, db, e)
    status, reason = judge(db, "deploy.rollback")["deploy.rollback"]
    assert status == "fail"
    assert "rollback target 1.3.2 served from source checkout, not from a release directory" in reason


def test_a_fixture_directory_instead_of_a_release_fails(good_root: Path, tmp_path: Path) -> None:
    (good_root / "releases" / NEW / "pyproject.toml").write_text("[project]\nname = 'relapp'\n", encoding="utf-8")
    db = tmp_path / "store.duckdb"
    code, _ = release_cli(db, "record", str(good_root))
    assert code == 1
    prepare(good_root, db)
    status, reason = judge(db, "deploy.release_layout")["deploy.release_layout"]
    assert status == "fail"
    assert "holds pyproject.toml: a source checkout or fixture, not a release directory" in reason


@pytest.mark.parametrize(("command", "reason"), [
    ("{checkout}/.venv/bin/relapp --role {role}", "from a source checkout ({checkout})"),
    ("/bin/sh -c '{root}/current/venv/bin/relapp --role {role}'", "ExecStart runs sh, a shell shim"),
    ("/usr/bin/env RELAPP_ROLE={role} {root}/current/venv/bin/relapp", "ExecStart runs env, a shell shim"),
])
def test_a_unit_from_a_checkout_or_a_shim_fails(good_root: Path, tmp_path: Path, command: str, reason: str) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'relapp'\n", encoding="utf-8")
    root = good_root.absolute()
    write_units(good_root, {"relapp-api": command.format(checkout=checkout, root=root, role="api")})
    db = tmp_path / "store.duckdb"
    prepare(good_root, db)
    status, detail = judge(db, "deploy.release_layout")["deploy.release_layout"]
    assert status == "fail"
    assert "unit relapp-api: ExecStart runs" in detail
    assert reason.format(checkout=checkout) in detail
    assert "relapp-ui" not in detail


def test_a_missing_rollback_release_directory_fails(good_root: Path, tmp_path: Path) -> None:
    import shutil

    db = tmp_path / "store.duckdb"
    prepare(good_root, db)
    shutil.rmtree(good_root / "releases" / OLD)
    assert release_cli(db, "record", str(good_root), "--version", NEW)[0] == 0
    status, reason = judge(db, "deploy.rollback")["deploy.rollback"]
    assert status == "fail"
    assert f"rollback target {OLD} has no release directory (releases/{OLD})" in reason
    code, out = release_cli(db, "record", str(good_root), "--version", OLD)
    assert code == 3
    assert f"release directory {good_root / 'releases' / OLD} does not exist" in out
    code, out = release_cli(db, "rollback", str(good_root))
    assert code == 3
    assert f"rollback target {OLD} has no release directory" in out


def test_a_changed_route_without_docs_or_release_notes_fails(tmp_path: Path, wheels: dict[str, Path]) -> None:
    new = copy.deepcopy(SPEC_NEW)
    new.notes = "# Changelog\n\n## [1.4.0]\n- Faster board.\n"
    new.docs = {"docs/board.md": SPEC_OLD.docs["docs/board.md"], "docs/sort.md": "# Sorting\n"}
    root = make_root(tmp_path / "deploy", wheels, new=new)
    db = tmp_path / "store.duckdb"
    prepare(root, db)
    status, reason = judge(db, "deploy.release_notes")["deploy.release_notes"]
    assert status == "fail"
    assert "the release notes entry does not name GET /board/sorted (added)" in reason
    assert "the release notes entry does not name scope board:sort (added)" in reason
    new.notes = "# Changelog\n\n## [1.3.2]\n- Cards move.\n"
    (root / "releases" / NEW / "CHANGELOG.md").write_text(new.notes, encoding="utf-8")
    release_cli(db, "record", str(root), "--version", NEW)
    assert judge(db, "deploy.release_notes")["deploy.release_notes"] == (
        "fail", "1 breaks <= 0: the release notes have no entry for 1.4.0")


def test_a_changed_doc_that_did_not_change_fails(tmp_path: Path, wheels: dict[str, Path]) -> None:
    new = copy.deepcopy(SPEC_NEW)
    new.live_events[0]["scope"] = "board:move"  # the move event changes its scope, its doc stays as it was
    new.scopes.append("board:move")
    new.notes += "- move now needs scope board:move\n"
    new.docs["docs/board.md"] = SPEC_OLD.docs["docs/board.md"]
    root = make_root(tmp_path / "deploy", wheels, new=new)
    db = tmp_path / "store.duckdb"
    prepare(root, db)
    status, reason = judge(db, "deploy.release_notes")["deploy.release_notes"]
    assert status == "fail"
    assert "live event move: doc docs/board.md did not change since the rollback target" in reason


def test_a_new_scope_without_a_denial_fails(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    prepare(good_root, db, evidence(good_root, denials=False))
    status, reason = judge(db, "deploy.surface_scope")["deploy.surface_scope"]
    assert status == "fail"
    assert reason.endswith("no recorded denial for new capability board.sort, scope board:sort")


def test_a_new_route_served_without_a_session_fails_the_auth_gate(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    prepare(good_root, db, evidence(good_root, anonymous_status=200))
    status, reason = judge(db, "deploy.surface_auth")["deploy.surface_auth"]
    assert status == "fail"
    assert "GET /board/sorted (auth session): answered 1 requests without a session with 2xx" in reason


def test_a_new_route_without_traffic_or_with_5xx_fails_the_endpoint_gate(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    e = ReleaseEvidence(service="relapp", process={OLD: process_attributes(good_root, OLD),
                                                   NEW: process_attributes(good_root, NEW)})
    serve(e, OLD, START)
    serve(e, NEW, START + timedelta(minutes=80), minutes=10, requests=30, events=("move",))
    anonymous(e, NEW, START + timedelta(minutes=85), "/board/sorted", 503)
    prepare(good_root, db, e)
    status, reason = judge(db, "deploy.surface_endpoint")["deploy.surface_endpoint"]
    assert status == "fail"
    assert "GET /board/sorted (added): 1 of 1 failed (5xx or error)" in reason
    assert "live event sort (added): no traffic" in reason


def test_an_irreversible_migration_fails_rollback_and_persistence(tmp_path: Path, wheels: dict[str, Path]) -> None:
    new = copy.deepcopy(SPEC_NEW)
    new.reversible = False
    root = make_root(tmp_path / "deploy", wheels, new=new)
    db = tmp_path / "store.duckdb"
    prepare(root, db)
    found = judge(db, "deploy.rollback", "deploy.surface_persistence")
    assert found["deploy.rollback"][0] == "fail"
    assert "release 1.4.0 declares its migrations irreversible: rolling back to 1.3.2 is not possible" in (
        found["deploy.rollback"][1])
    assert found["deploy.surface_persistence"][0] == "fail"
    assert "the rollback target 1.3.2 cannot run on the migrated data" in found["deploy.surface_persistence"][1]
    code, out = release_cli(db, "rollback", str(root))
    assert code == 3
    assert "declares its migrations irreversible" in out


def test_a_migration_the_rollback_target_cannot_run_on_fails_persistence(tmp_path: Path,
                                                                           wheels: dict[str, Path]) -> None:
    new = copy.deepcopy(SPEC_NEW)
    new.migrations["0002_sort.sql"] = "ALTER TABLE cards RENAME COLUMN title TO name;\n"
    root = make_root(tmp_path / "deploy", wheels, new=new)
    db = tmp_path / "store.duckdb"
    prepare(root, db)
    code, out = release_cli(db, "dry-run", str(root), "--version", NEW, "--data", str(rollback_data(tmp_path)),
                            "--timeout", "15")
    assert code == 1, out
    status, reason = judge(db, "deploy.surface_persistence")["deploy.surface_persistence"]
    assert status == "fail"
    assert "relapp-api /readyz: the unit exited with code 1" in reason
    assert "no such column: title" in reason
