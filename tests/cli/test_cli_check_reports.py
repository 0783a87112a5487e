"""``liveobs check`` reports for CI, parsed: JSON schema, bounds and units; JUnit subject, warnings, errors;
budgets files checked key by key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import gate_seed as seed
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator._db import connect


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store.duckdb"
    con = connect(path)
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=60)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=60)
    e.write(con)
    con.close()
    return path


def _check(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--db", str(db), "check", *args])
    return result.exit_code, result.stdout, result.stderr


def _properties(element: ET.Element) -> dict[str, str]:
    props = element.find("properties")
    assert props is not None
    return {p.get("name", ""): p.get("value", "") for p in props.iter("property")}


def test_json_has_a_schema_a_timestamp_numeric_bounds_and_units(store: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    code, out, _ = _check(store, "performance", "--release", "1.1", "--baseline", "1.0", "--json")
    doc = json.loads(out)
    assert doc["schema"] == "liveobs.gates/2"
    assert doc["generator"].startswith("liveobs-correlator ")
    assert doc["manifest"] is None
    assert before <= datetime.fromisoformat(doc["generated_at"].replace("Z", "+00:00")) <= datetime.now(UTC)
    assert doc["exit_code"] == code
    checks = {c["id"]: c for c in doc["checks"]}
    server = checks["performance.event_server"]
    assert server["unit"] == "ms"
    assert server["bounds"] == {"max": 150.0, "warn_max": 100.0, "percentile": 95, "min_evidence": 20}
    assert checks["performance.memory"]["unit"] == "MiB"
    regression = checks["performance.regression_event_latency"]
    assert regression["unit"] == "ratio"
    assert regression["bounds"] == {"alpha": 0.01, "min_effect": 0.2, "min_samples": 30, "min_evidence": 1}
    assert all(isinstance(v, int | float) for c in doc["checks"] for v in c["bounds"].values())


def test_json_bounds_follow_the_budgets_file_for_the_judged_service(store: Path, tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('[checks."performance.event_server"]\nmax = 90.0\nunit = "ms"\n')
    _, out, _ = _check(store, "performance.event_server", "--budgets", str(budgets), "--json")
    doc = json.loads(out)
    assert doc["budgets_file"] == str(budgets)
    assert doc["checks"][0]["bounds"]["max"] == 90.0


def test_junit_names_the_subject_and_shows_warnings_and_advisory_results(store: Path, tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.toml"
    # A warning level every release passes, and an advisory check that cannot pass.
    budgets.write_text('[checks."performance.event_server"]\nwarn_max = 0.0001\n'
                       '[checks."performance.memory"]\nmax = 0.001\nrequired = false\n')
    out_file = tmp_path / "gates" / "performance.xml"
    code, _, _ = _check(store, "performance", "--release", "1.1", "--baseline", "1.0", "--since", "2026-01-01",
                        "--budgets", str(budgets), "--format", "junit", "--output", str(out_file))
    root = ET.parse(out_file).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    props = _properties(suite)
    assert props["liveobs.release"] == "1.1"
    assert props["liveobs.baseline"] == "1.0"
    assert props["liveobs.since"].startswith("2026-01-01")
    assert props["liveobs.selection"] == "performance"
    assert props["liveobs.exit_code"] == str(code)
    assert props["liveobs.budgets_file"] == str(budgets)
    assert props["liveobs.generator"].startswith("liveobs-correlator ")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    warned = cases["performance.event_server"].find("skipped")
    assert warned is not None
    assert warned.get("type") == "warn"
    assert "past the warning level" in (warned.get("message") or "")
    advisory = cases["performance.memory"].find("skipped")
    assert advisory is not None
    assert advisory.get("type") == "advisory-fail"
    assert int(suite.get("skipped", "0")) >= 2
    assert suite.get("timestamp")
    assert _properties(cases["performance.event_server"])["unit"] == "ms"


@pytest.mark.parametrize("fmt", ["junit", "json"])
def test_a_run_that_cannot_start_replaces_an_older_report_with_an_error(tmp_path: Path, fmt: str) -> None:
    out_file = tmp_path / f"security.{fmt}"
    out_file.write_text("a passing report from yesterday")
    code, _, err = _check(tmp_path / "missing.duckdb", "security", "--format", fmt, "--output", str(out_file))
    assert code == 3
    assert "missing.duckdb" in err
    if fmt == "json":
        doc = json.loads(out_file.read_text())
        assert (doc["status"], doc["exit_code"], doc["checks"]) == ("error", 3, [])
        assert "missing.duckdb" in doc["error"]
    else:
        root = ET.parse(out_file).getroot()
        error = root.find("testsuite/testcase/error")
        assert error is not None
        assert error.get("type") == "could-not-run"
        assert "missing.duckdb" in (error.get("message") or "")


def test_a_bad_since_is_exit_3_not_2(store: Path) -> None:
    code, _, err = _check(store, "security", "--since", "last tuesday")
    assert code == 3
    assert "--since" in err


@pytest.mark.parametrize(("budgets", "named"), [
    ('[checks."security.cps"]\nmax = 1\n', "unknown check id security.cps in [checks] (did you mean security.csp?)"),
    ('[checks."performance.render"]\nmx = 900\n', 'unknown key mx in [checks]."performance.render" (did you mean max?)'),
    ('[checks."performance.render"]\npercentil = 99\n', "unknown key percentil"),
    ('[checks."security.csp"]\nrequired = "false"\n', "required must be true or false, not 'false'"),
    ('[checks."performance.render"]\nmin_evidence = 2.5\n', "min_evidence must be a whole number"),
    ('[defaults]\nmin_evidnce = 3\n', "unknown key min_evidnce in [defaults] (did you mean min_evidence?)"),
    ('[chekcs."security.csp"]\nmax = 0\n', "unknown table [chekcs] (did you mean checks?)"),
    ('[service.shop.checks."security.cps"]\nmax = 0\n', "unknown check id security.cps in [service.shop.checks]"),
    ('[service.shpo.checks."security.csp"]\nmax = 0\n',
     "unknown service shpo in [service.shpo] (did you mean shop?): services in the evidence are shop"),
])
def test_a_budgets_typo_is_exit_3_naming_it(store: Path, tmp_path: Path, budgets: str, named: str) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(budgets)
    code, out, err = _check(store, "all", "--budgets", str(path))
    assert code == 3, out
    assert named in err


def test_budgets_for_a_service_named_on_the_command_line_or_in_the_store_are_accepted(store: Path,
                                                                                     tmp_path: Path) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text('[service.shop.checks."security.csp"]\nmax = 0\n[service.billing.checks."security.csp"]\nmax = 0\n')
    code, _, err = _check(store, "security.csp", "--budgets", str(path))
    assert code == 3
    assert "unknown service billing" in err
    code, _, err = _check(store, "security.csp", "--budgets", str(path), "--service", "billing")
    assert code == 2, err  # billing has no evidence: unknown, but its budgets are no typo


def test_json_and_junit_carry_the_manifest_they_judged_against(store: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "release-manifest.toml"
    manifest.write_text('[release]\nservice = "shop"\nenvironment = "production"\ncurrent = "1.1"\nrollback = "1.0"\n')
    _, out, _ = _check(store, "deploy", "--manifest", str(manifest), "--json")
    doc = json.loads(out)
    assert doc["manifest_file"] == str(manifest)
    assert doc["manifest"] == {"current": "1.1", "rollback": "1.0", "service": "shop", "environment": "production"}
    out_file = tmp_path / "deploy.xml"
    _check(store, "deploy", "--manifest", str(manifest), "--format", "junit", "--output", str(out_file))
    suite = ET.parse(out_file).getroot().find("testsuite")
    assert suite is not None
    props = _properties(suite)
    assert (props["liveobs.manifest.current"], props["liveobs.manifest.rollback"]) == ("1.1", "1.0")
