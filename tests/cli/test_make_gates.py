"""The make gate targets: the gate's own exit code and status recorded beside its report.

make turns 1 (fail), 2 (unknown) and 3 (could not run) into its own exit 2; the
targets print the gate's code and write ``<report>.exit``, so CI can tell them
apart. Runs the real Makefile with its real recipe, over real store files. The
gates' install stamp points at an up-to-date file, so nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import gate_seed as seed
import pytest

from liveobs.correlator._db import connect

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def _store(path: Path, **current: object) -> Path:
    con = connect(path)
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=60)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=60, **current)  # type: ignore[arg-type]
    e.write(con)
    con.close()
    return path


def _make(target: str, tmp_path: Path, **variables: str) -> tuple[int, str, str]:
    assert shutil.which("make"), "make is required"
    stamp = tmp_path / "gates-installed"
    stamp.touch()
    argv = ["make", "--no-print-directory", target, f"GATE_STAMP={stamp}", f"GATES_OUT={tmp_path / 'gates'}",
            *(f"{k}={v}" for k, v in variables.items())]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=100, check=False)
    return result.returncode, result.stdout, result.stderr


def _recorded(tmp_path: Path, name: str) -> tuple[int, str, str]:
    code, status, report = (tmp_path / "gates" / f"{name}.exit").read_text().split()
    return int(code), status, report


@pytest.mark.parametrize(("faults", "gate", "variables", "expected"), [
    ((), "security", {}, (0, "pass")),
    (("csp_unsafe",), "security", {}, (1, "fail")),
    ((), "performance", {"BASELINE": "9.9.9"}, (2, "unknown")),  # no evidence of the baseline: unknown
])
def test_make_records_the_gates_own_exit_code_and_status(tmp_path: Path, faults: tuple[str, ...], gate: str,
                                                         variables: dict[str, str],
                                                         expected: tuple[int, str]) -> None:
    db = _store(tmp_path / "store.duckdb", faults=faults)
    code, out, _ = _make(f"live-{gate}-check", tmp_path, DB=str(db), **variables)
    assert code == (0 if expected[0] == 0 else 2)  # what make itself says
    assert _recorded(tmp_path, gate) == (*expected, str(tmp_path / "gates" / f"{gate}.xml"))
    assert f"gate {gate}: {expected[1]} (exit {expected[0]})" in out
    props = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "gates" / f"{gate}.xml").iter("property")}
    assert props["liveobs.exit_code"] == str(expected[0])


def test_make_passes_service_environment_window_and_budgets_to_the_gate(tmp_path: Path) -> None:
    db = _store(tmp_path / "store.duckdb")
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('[checks."security.csp"]\nmax = 0\n')
    code, _, _ = _make("live-security-check", tmp_path, DB=str(db), SERVICE="shop", ENVIRONMENT="production",
                       SINCE="2026-01-01", UNTIL="2030-01-01", BUDGETS=str(budgets), RELEASE="1.1")
    suite = ET.parse(tmp_path / "gates" / "security.xml").getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["liveobs.service"] == "shop"
    assert props["liveobs.environment"] == "production"
    assert props["liveobs.since"].startswith("2026-01-01")
    assert props["liveobs.until"].startswith("2030-01-01")
    assert props["liveobs.budgets_file"] == str(budgets)
    assert _recorded(tmp_path, "security")[0] == {"0": 0, "1": 1, "2": 2}[props["liveobs.exit_code"]]
    assert code in (0, 2)


def test_make_with_a_missing_store_or_a_budgets_typo_records_error_and_replaces_the_old_report(tmp_path: Path) -> None:
    report = tmp_path / "gates" / "security.xml"
    report.parent.mkdir()
    report.write_text("<testsuites><testsuite name='security' tests='1'/></testsuites>")  # yesterday's pass
    code, out, err = _make("live-security-check", tmp_path, DB=str(tmp_path / "missing.duckdb"))
    assert code == 2
    assert _recorded(tmp_path, "security")[:2] == (3, "error")
    assert "gate security: error (exit 3)" in out
    error = ET.parse(report).getroot().find("testsuite/testcase/error")
    assert error is not None
    assert "missing.duckdb" in (error.get("message") or "")

    db = _store(tmp_path / "store.duckdb")
    budgets = tmp_path / "budgets.toml"
    budgets.write_text('[checks."security.cps"]\nmax = 0\n')
    code, _, err = _make("live-security-check", tmp_path, DB=str(db), BUDGETS=str(budgets))
    assert _recorded(tmp_path, "security")[:2] == (3, "error")
    assert "unknown check id security.cps" in err


def test_make_records_a_crashed_or_misused_gate_as_error_and_replaces_its_report(tmp_path: Path) -> None:
    report = tmp_path / "gates" / "security.xml"
    report.parent.mkdir()
    report.write_text("<testsuites><testsuite name='security' tests='1'/></testsuites>")  # yesterday's pass
    # A usage error (click exits 2, which would read as "unknown") writes no report.
    code, _, err = _make("live-security-check", tmp_path, DB="")  # `--db check security`: no such command
    assert code == 2
    assert _recorded(tmp_path, "security")[:2] == (3, "error")
    assert "wrote no report: treated as could not run" in err
    error = ET.parse(report).getroot().find("testsuite/testcase/error")
    assert error is not None
    assert error.get("type") == "could-not-run"
