"""``liveobs check`` records each run in the store: the run and its check results, parsed back, and a
store that cannot take the record still gets its answer and exit code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import gate_seed as seed
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator._db import connect
from liveobs.correlator._retention import TRIMMED
from liveobs.correlator.gates._runlog import latest_runs, run


def _store(path: Path, **current: object) -> Path:
    con = connect(path)
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=300)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=300, **current)  # type: ignore[arg-type]
    e.write(con)
    con.close()
    return path


def _check(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--db", str(db), "check", *args])
    return result.exit_code, result.stdout, result.stderr


def _runs(db: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT RunId, Selection, Status, ExitCode, Release FROM liveobs_gate_runs").fetchall()
    finally:
        con.close()


def test_a_check_over_a_store_file_records_its_run_and_results(tmp_path: Path) -> None:
    db = _store(tmp_path / "s.duckdb", faults={"csp_unsafe"})
    before = datetime.now(UTC).replace(tzinfo=None)
    code, out, err = _check(db, "security", "--release", "1.1", "--json")
    assert code == 1, out
    assert "not recorded" not in err
    report = json.loads(out)
    con = duckdb.connect(str(db), read_only=True)
    try:
        [recorded] = latest_runs(con)
        assert run(con, recorded.run_id) == recorded
    finally:
        con.close()
    assert recorded.selection == "security"
    assert (recorded.status, recorded.exit_code) == ("fail", 1)
    assert (recorded.service, recorded.release, recorded.baseline) == (
        report["subject"]["service"], "1.1", report["subject"]["baseline"])
    assert recorded.generator.startswith("liveobs check (liveobs-correlator ")
    assert before <= recorded.ran_at <= datetime.now(UTC).replace(tzinfo=None)
    assert [r.check_id for r in recorded.results] == [c["id"] for c in report["checks"]]
    for stored, shown in zip(recorded.results, report["checks"], strict=True):
        assert (stored.status, stored.required, stored.reason, stored.evidence, stored.threshold) == (
            shown["status"], shown["required"], shown["reason"], shown["evidence"], shown["threshold"])
        assert stored.observed == shown["observed"]
    csp = next(r for r in recorded.results if r.check_id == "security.csp")
    assert (csp.status, csp.gate) == ("fail", "security")
    assert csp.evidence > 0


def test_each_run_is_a_new_record_and_the_latest_per_release_and_gate_is_listed(tmp_path: Path) -> None:
    db = _store(tmp_path / "s.duckdb")
    for args in (("security", "--release", "1.1"), ("security", "--release", "1.1"),
                 ("security", "--release", "1.0"), ("observability", "--release", "1.1")):
        _check(db, *args)
    rows = _runs(db)
    assert len(rows) == 4
    assert len({r[0] for r in rows}) == 4
    con = duckdb.connect(str(db), read_only=True)
    try:
        latest = latest_runs(con)
    finally:
        con.close()
    assert sorted((r.selection, r.release) for r in latest) == [
        ("observability", "1.1"), ("security", "1.0"), ("security", "1.1")]


def test_a_read_only_store_still_answers_and_says_the_run_was_not_recorded(tmp_path: Path) -> None:
    db = _store(tmp_path / "s.duckdb", faults={"csp_unsafe"})
    # A store another process holds read-only cannot be reopened for writing by this one.
    holder = duckdb.connect(str(db), read_only=True)
    try:
        code, out, err = _check(db, "security", "--release", "1.1")
    finally:
        holder.close()
    assert code == 1
    assert "security.csp" in out
    assert "liveobs check: the gate run was not recorded in the store" in err
    assert _runs(db) == []


def test_retention_never_trims_the_gate_tables() -> None:
    assert not {t for t, _ in TRIMMED} & {"liveobs_gate_runs", "liveobs_gate_results"}


def test_a_check_through_the_collector_is_recorded_in_its_store(tmp_path: Path) -> None:
    from tests.cli.test_cli_check_remote import TOKEN, _collector_fixtures

    db = _store(tmp_path / "owned.duckdb", faults={"csp_unsafe"})
    running = _collector_fixtures().start_collector(db, token=TOKEN)
    try:
        result = CliRunner(env={"LIVEOBS_TOKEN": TOKEN, "LIVEOBS_TOKEN_FILE": None}).invoke(
            main, ["--db", str(db), "check", "security", "--release", "1.1", "--json"])
        assert result.exit_code == 1, result.output
        assert "not recorded" not in result.stderr
    finally:
        running.stop(timeout=30)
    [(run_id, selection, status, exit_code, release)] = _runs(db)
    assert (selection, status, exit_code, release) == ("security", "fail", 1, "1.1")
    con = duckdb.connect(str(db), read_only=True)
    try:
        recorded = run(con, str(run_id))
    finally:
        con.close()
    assert recorded is not None
    assert recorded.generator.startswith("liveobs check via liveobs collect")
    assert [r.check_id for r in recorded.results] == [c["id"] for c in json.loads(result.stdout)["checks"]]
