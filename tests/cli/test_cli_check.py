"""``liveobs check``: exit codes, text, JSON and JUnit output over a real store file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import gate_seed as seed
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator._db import connect

MANIFEST = '[release]\nservice = "shop"\ncurrent = "1.1"\nrollback = "1.0"\n'


def _store(path: Path, **current: object) -> Path:
    con = connect(path)
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=600)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=600, **current)  # type: ignore[arg-type]
    e.write(con)
    con.close()
    return path


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    return _store(tmp_path / "store.duckdb")


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "release-manifest.toml"
    path.write_text(MANIFEST)
    return path


def _check(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--db", str(db), "check", *args])
    return result.exit_code, result.stdout, result.stderr


def test_all_gates_pass_on_healthy_evidence_with_exit_0(healthy: Path, manifest: Path) -> None:
    code, out, _ = _check(healthy, "all", "--manifest", str(manifest), "--json")
    report = json.loads(out)
    # The seeded evidence has no recorded release (liveobs release record): those checks alone are unknown.
    unrecorded = {c["id"] for c in report["checks"] if c["status"] == "unknown"}
    assert unrecorded == seed.RELEASE_FACT_CHECKS - {"deploy.security_incidents"}, report["checks"]
    assert all("recorded" in c["reason"] or "dry run" in c["reason"] for c in report["checks"] if c["id"] in unrecorded)
    assert [c for c in report["checks"] if c["status"] not in ("pass", "unknown", "not_applicable")] == []
    assert code == 2
    assert report["subject"]["release"] == "1.1"
    assert report["subject"]["baseline"] == "1.0"
    first = report["checks"][0]
    assert set(first) >= {"id", "status", "required", "reason", "observed", "threshold", "evidence"}
    assert {c["id"].split(".")[0] for c in report["checks"]} == {"observability", "security", "performance", "deploy"}


def test_a_failed_required_check_exits_1_and_names_it(tmp_path: Path) -> None:
    db = _store(tmp_path / "s.duckdb", faults={"csp_unsafe"})
    code, out, _ = _check(db, "security")
    assert code == 1
    line = next(ln for ln in out.splitlines() if "security.csp" in ln)
    assert line.startswith("FAIL")
    assert "unsafe-inline" in out


def test_missing_evidence_exits_2_never_0(tmp_path: Path) -> None:
    db = _store(tmp_path / "s.duckdb", skip={"csp"})
    code, out, _ = _check(db, "security.csp", "--json")
    assert code == 2
    assert json.loads(out)["checks"][0]["status"] == "unknown"


def test_no_store_is_exit_3_with_one_line(tmp_path: Path) -> None:
    code, out, err = _check(tmp_path / "absent.duckdb", "all")
    assert code == 3
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_an_unknown_gate_or_bad_budgets_file_is_exit_3(healthy: Path, tmp_path: Path) -> None:
    code, _, err = _check(healthy, "no-such-gate")
    assert code == 3
    assert "unknown gate or profile" in err
    bad = tmp_path / "budgets.toml"
    bad.write_text("[checks\n")
    code, _, err = _check(healthy, "all", "--budgets", str(bad))
    assert code == 3
    assert "budgets" in err


def test_a_budgets_file_tightens_a_threshold_per_service(healthy: Path, tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('[service.shop.checks."performance.event_server"]\nmax = 1.0\nwarn_max = 0.5\n')
    code, out, _ = _check(healthy, "performance.event_server", "--budgets", str(budgets), "--json")
    assert code == 1
    result = json.loads(out)["checks"][0]
    assert result["status"] == "fail"
    assert result["threshold"] == "p95 <= 1"
    code, out, _ = _check(healthy, "performance.event_server", "--json")
    assert code == 0


def test_junit_output_goes_to_a_file_and_the_table_to_stdout(healthy: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "gates.xml"
    code, out, _ = _check(healthy, "deploy", "--format", "junit", "--output", str(target))
    assert code == 2  # no manifest: the rollback check is unknown
    assert "deploy.rollback" in out
    assert "UNKNOWN" in out
    suites = ET.fromstring(target.read_text())
    suite = suites.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "deploy"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"deploy.readiness", "deploy.rollback", "deploy.service_version", *seed.RELEASE_FACT_CHECKS}
    assert cases["deploy.rollback"].find("error") is not None
    assert cases["deploy.readiness"].find("failure") is None
    assert cases["deploy.readiness"].find("error") is None


def test_a_profile_runs_its_checks_only(healthy: Path, manifest: Path) -> None:
    code, out, _ = _check(healthy, "live-adoption", "--manifest", str(manifest), "--json")
    ids = [c["id"] for c in json.loads(out)["checks"]]
    assert code == 0
    assert "security.csp" in ids
    assert "deploy.rollback" in ids
    assert not any(i.startswith("performance.") for i in ids)


def test_release_and_baseline_options_choose_the_subject(healthy: Path) -> None:
    code, out, _ = _check(healthy, "performance.regression_event_latency", "--release", "1.0", "--json")
    report = json.loads(out)
    assert report["subject"]["release"] == "1.0"
    assert report["checks"][0]["status"] == "unknown"  # nothing served before 1.0
    assert code == 2
    code, out, _ = _check(healthy, "performance.regression_event_latency", "--release", "1.0", "--baseline", "1.1",
                          "--json")
    assert json.loads(out)["checks"][0]["status"] == "pass"
    assert code == 0
