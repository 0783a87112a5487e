"""`liveobs release record` and `dry-run` on a real deploy root: facts in the store, units started and stopped."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import psutil
import pytest
from click.testing import CliRunner, Result
from layouts import write_units
from release_specs import NEW, OLD

from liveobs.cli import main
from liveobs.conventions import keys


def cli(db: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", str(db), "release", *args])


def test_record_stores_the_release_facts(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    result = cli(db, "record", str(good_root), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    wheel = good_root / "releases" / NEW / "artifacts" / f"relapp-{NEW}-py3-none-any.whl"
    digest = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert (summary["version"], summary["digest"], summary["current"], summary["problems"]) == (NEW, digest, NEW, [])
    assert summary["rollback_recorded"] is False
    assert f"note: rollback target {OLD} is not recorded: record it too (--version {OLD})" in result.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT Digest, RollbackVersion, RollbackDigest IS NOT NULL, CurrentVersion, SchemaVersion,"
                          " NotesEntry FROM liveobs_release_manifests WHERE Version = ?", [NEW]).fetchone()
        assert row is not None
        assert row[:5] == (digest, OLD, True, NEW, 2)
        assert row[5].startswith("## [1.4.0]")
        assert "1.3.2" not in row[5]
        units = con.execute("SELECT Unit, Program, Environment['LIVEOBS_UNIT'], Readiness, Problems"
                            " FROM liveobs_release_units ORDER BY Unit").fetchall()
        program = f"{good_root.absolute()}/current/venv/bin/relapp"
        assert units == [("relapp-api", program, "relapp-api", ["/readyz", "/live/readiness.json"], []),
                         ("relapp-ui", program, "relapp-ui", ["/readyz", "/live/readiness.json"], [])]
        surface = con.execute("SELECT Kind, count(*) FROM liveobs_release_surface GROUP BY 1 ORDER BY 1").fetchall()
        assert surface == [("capability", 1), ("live_event", 2), ("migration", 2), ("route", 2), ("scope", 3)]
        docs = dict(con.execute("SELECT Path, Sha256 FROM liveobs_release_docs").fetchall())
        assert docs["docs/sort.md"] == hashlib.sha256((good_root / "releases" / NEW / "docs" / "sort.md")
                                                      .read_bytes()).hexdigest()
    finally:
        con.close()
    # Recording again replaces the facts instead of adding to them.
    assert cli(db, "record", str(good_root)).exit_code == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM liveobs_release_units").fetchone() == (2,)
    finally:
        con.close()


def test_dry_run_starts_each_unit_from_its_release_and_stops_it(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = cli(db, "dry-run", str(good_root), "--version", OLD)  # not the one `current` names
    assert result.exit_code == 0, result.output
    assert "4 of 4 probes answered as they should" in result.stdout
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT Unit, Path, HttpStatus, HealthStatus, ReportedVersion, ReportedDigest, "
                           "ReportedSource, ReportedDirectory, Problem FROM liveobs_release_dryruns "
                           "ORDER BY Unit, Path").fetchall()
    finally:
        con.close()
    wheel = good_root / "releases" / OLD / "artifacts" / f"relapp-{OLD}-py3-none-any.whl"
    digest = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
    directory = str((good_root / "releases" / OLD).resolve())
    assert [r[0:2] for r in rows] == [(u, p) for u in ("relapp-api", "relapp-ui")
                                      for p in ("/live/readiness.json", "/readyz")]
    # /readyz answers by status code (text body); the health document names the version.
    assert {r[2:] for r in rows if r[1] == "/live/readiness.json"} == {(200, "pass", OLD, digest, "release",
                                                                        directory, None)}
    assert {r[2:] for r in rows if r[1] == "/readyz"} == {(200, None, None, digest, "release", directory, None)}


def test_dry_run_of_a_unit_that_cannot_start_records_why_and_leaves_nothing(good_root: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    broken = good_root / "releases" / NEW / "venv" / "bin" / "relapp"
    broken.write_text(f"#!{broken.parent / 'python'}\nimport sys\nsys.exit('no config')\n", encoding="utf-8")
    result = cli(db, "dry-run", str(good_root), "--version", NEW, "--timeout", "10")
    assert result.exit_code == 1, result.output
    assert "the unit exited with code 1" in result.stdout
    assert "no config" in result.stdout
    assert not [p for p in psutil.process_iter(["environ"]) if _ours(p, good_root)]


def _ours(process: psutil.Process, root: Path) -> bool:
    try:
        return any(str(root) in part for part in process.cmdline())
    except psutil.Error:
        return False


def test_rollback_repoints_current_and_names_the_same_units(good_root: Path, tmp_path: Path) -> None:
    plan = CliRunner().invoke(main, ["release", "rollback", str(good_root), "--plan"])
    assert plan.exit_code == 0, plan.output
    assert os.readlink(good_root / "current") == f"releases/{NEW}"
    done = CliRunner().invoke(main, ["release", "rollback", str(good_root)])
    assert done.exit_code == 0, done.output
    assert os.readlink(good_root / "current") == f"releases/{OLD}"
    assert f"pointed current at releases/{OLD} (was {NEW})" in done.stdout
    assert "restart units: relapp-api, relapp-ui" in done.stdout



def test_rollback_refuses_a_target_that_is_a_fixture_or_checkout(good_root: Path) -> None:
    (good_root / "releases" / OLD / ".git").mkdir()
    done = CliRunner().invoke(main, ["release", "rollback", str(good_root)])
    assert done.exit_code == 3
    assert f"rollback target {OLD} is not a release built from its artifact" in done.output
    assert "holds .git: a source checkout or fixture" in done.output
    assert os.readlink(good_root / "current") == f"releases/{NEW}"


def test_a_secret_in_a_unit_file_is_scrubbed_before_it_is_recorded(good_root: Path, tmp_path: Path) -> None:
    unit = good_root / "units" / "relapp-api.service"
    unit.write_text(unit.read_text(encoding="utf-8") + "Environment=RELAPP_DB_PASSWORD=hunter2secret\n",
                    encoding="utf-8")
    db = tmp_path / "store.duckdb"
    assert cli(db, "record", str(good_root)).exit_code == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        env = con.execute("SELECT Environment FROM liveobs_release_units WHERE Unit = 'relapp-api'").fetchone()
    finally:
        con.close()
    assert env is not None
    assert env[0]["RELAPP_DB_PASSWORD"] == "[REDACTED:key]"
    assert env[0]["LIVEOBS_UNIT"] == "relapp-api"


def test_through_a_collector_the_units_export_the_release_they_run(
        good_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "store.duckdb"
    collector = subprocess.Popen([sys.executable, "-m", "liveobs.cli", "--db", str(db), "collect", "--port", "0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert collector.stdout is not None
        url = next(m[1] for line in collector.stdout if (m := re.search(r"listening on (http://\S+)", line)))
        for version in (OLD, NEW):  # recorded by the collector that owns the store
            assert cli(db, "record", str(good_root), "--version", version).exit_code == 0
        # The units export to it because their unit files say so (a dry run passes on no environment of its own).
        write_units(good_root, environment=f"OTEL_EXPORTER_OTLP_ENDPOINT={url}")
        # The caller's environment reaches no unit: a shadowing package on its PYTHONPATH is never imported.
        shadow = tmp_path / "elsewhere" / "relapp"
        shadow.mkdir(parents=True)
        (shadow / "__init__.py").write_text("raise SystemExit('imported from the caller PYTHONPATH')\n", encoding="utf-8")
        monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
        result = cli(db, "dry-run", str(good_root), "--version", NEW)
        assert result.exit_code == 0, result.output
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.communicate(timeout=60)
    wheel = good_root / "releases" / NEW / "artifacts" / f"relapp-{NEW}-py3-none-any.whl"
    digest = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
    con = duckdb.connect(str(db), read_only=True)
    try:
        spans = con.execute("SELECT count(*) FROM otel_traces").fetchone()
        resources = con.execute(
            "SELECT DISTINCT ResourceAttributes[?], ResourceAttributes[?], ResourceAttributes[?], ResourceAttributes[?] "
            "FROM otel_metrics_sum WHERE ServiceName = 'relapp' ORDER BY 4",
            [keys.SERVICE_VERSION, keys.RELEASE_DIGEST, keys.RELEASE_SOURCE, keys.RELEASE_UNIT]).fetchall()
        recorded = con.execute("SELECT count(*) FROM liveobs_release_dryruns WHERE Problem IS NULL").fetchone()
    finally:
        con.close()
    # Readiness answers make no spans: the dry run adds no traffic to the release's evidence.
    assert spans == (0,)
    # What the units exported carries the release they ran: the artifact's digest, from the release, per unit.
    assert resources == [(NEW, digest, "release", "relapp-api"), (NEW, digest, "release", "relapp-ui")]
    assert recorded == (4,)


def test_release_facts_go_to_a_duckdb_store_only(good_root: Path) -> None:
    result = CliRunner().invoke(main, ["--db", "chdb:///srv/store", "release", "record", str(good_root)])
    assert result.exit_code in (2, 3)
    assert "chdb" in result.output

