"""``liveobs check`` through a running collector that owns the store: same report as the local path."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator._db import StoreBusyError, connect

_TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_TESTS / "correlator"))
import gate_seed as seed  # noqa: E402 - lives next to the correlator tests

TOKEN = "gate-token"
MANIFEST = '[release]\nservice = "shop"\ncurrent = "1.1"\nrollback = "1.0"\n'
# What must agree between the two paths (timings differ).
_COMPARED = ("id", "gate", "status", "required", "reason", "observed", "threshold", "evidence")


def _collector_fixtures() -> ModuleType:
    """The correlator tests' collector starter (a real ``liveobs collect`` subprocess)."""
    name = "correlator_collector_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _TESTS / "correlator" / "conftest.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """Two releases; the current one with a weak CSP and a missing request id, so some checks fail."""
    db = tmp_path / "store.duckdb"
    con = connect(db)
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=60)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=60, faults={"csp_unsafe", "missing_request_id"},
                     skip={"upload"})
    e.write(con)
    con.close()
    return db


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "release-manifest.toml"
    path.write_text(MANIFEST)
    return path


@pytest.fixture
def owned(seeded: Path) -> Iterator[Any]:
    """A collector owning the seeded store, with a token."""
    running = _collector_fixtures().start_collector(seeded, token=TOKEN)
    try:
        yield running
    finally:
        running.stop(timeout=30)


def _check(db: Path, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {"LIVEOBS_TOKEN": token, "LIVEOBS_TOKEN_FILE": None}
    result = CliRunner(env=env).invoke(main, ["--db", str(db), "check", *args])
    return result.exit_code, result.stdout, result.stderr


def _comparable(report: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return report["subject"], [{k: c[k] for k in _COMPARED} for c in report["checks"]]


def test_check_through_the_collector_gives_the_local_report(seeded: Path, manifest: Path) -> None:
    args = ("all", "--manifest", str(manifest), "--json")
    local_code, local_out, _ = _check(seeded, *args)
    local = json.loads(local_out)
    assert local_code == 1
    statuses = {c["id"]: c["status"] for c in local["checks"]}
    assert statuses["security.csp"] == "fail"
    assert statuses["observability.span_ids"] == "fail"
    assert statuses["security.upload_scan"] == "not_applicable"  # no uploads: nothing to judge
    assert statuses["deploy.rollback"] == "pass"

    running = _collector_fixtures().start_collector(seeded, token=TOKEN)
    try:
        with pytest.raises(StoreBusyError):
            connect(seeded)  # the collector owns the file: the CLI can only have read through it
        remote_code, remote_out, remote_err = _check(seeded, *args, token=TOKEN)
    finally:
        running.stop(timeout=30)
    assert remote_err == ""
    assert remote_code == local_code
    assert _comparable(json.loads(remote_out)) == _comparable(local)


def test_check_through_the_collector_renders_junit_and_keeps_exit_codes(owned: Any, tmp_path: Path) -> None:
    target = tmp_path / "gates.xml"
    code, out, _ = _check(owned.db, "security.csp", "--format", "junit", "--output", str(target), token=TOKEN)
    assert code == 1
    assert "security.csp" in out
    assert "<failure" in target.read_text()
    code, out, _ = _check(owned.db, "deploy.rollback", "--json", token=TOKEN)
    assert code == 2
    assert json.loads(out)["checks"][0]["status"] == "unknown"  # no manifest: nothing names the rollback target


def test_a_wrong_token_is_one_line_and_exit_3(owned: Any) -> None:
    code, out, err = _check(owned.db, "security", token="not-the-token")
    assert code == 3
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "token" in err
    assert "Traceback" not in err
