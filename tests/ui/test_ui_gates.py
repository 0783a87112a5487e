"""The web view reads the recorded gate runs: ``/gates`` lists the latest run per release and gate with
each check, and a security-affecting incident's page says whether the security gate passed for its
release after the incident (incidents ingested through a real ``liveobs collect``)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import gate_seed as seed
import httpx
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator._db import connect
from liveobs.correlator._store import open_local
from liveobs.correlator._ui_server import COOKIE, UIServer
from liveobs.correlator.gates._runlog import security_affecting
from tests.cli.test_cli_hostile_text import _attr, _collector_fixtures

SECURE_TRACE = "7a1e5ec07a1e5ec07a1e5ec07a1e5ec0"
PLAIN_TRACE = "b1a1bb1ab1a1bb1ab1a1bb1ab1a1bb1a"
# After the seeded evidence of release 1.1, long before any gate run (runs are stamped with the wall clock).
INCIDENT_NS = int((seed.START + timedelta(hours=1, minutes=30)).timestamp() * 1e9)


def _error_span(trace_id: str, error: str, security: bool) -> dict[str, Any]:
    events: list[dict[str, Any]] = [{
        "name": "exception", "timeUnixNano": str(INCIDENT_NS + 1000),
        "attributes": [_attr("exception.type", error), _attr("exception.message", f"{error} on save"),
                       _attr("exception.stacktrace", f'  File "/srv/app/board.py", line 9, in save\n{error}: boom\n')],
    }]
    if security:
        events.append({"name": ev.SECURITY_EVENT, "timeUnixNano": str(INCIDENT_NS + 500), "attributes": [
            _attr(ev.SECURITY_CHECK, ev.CHECK_SCOPE), _attr(ev.SECURITY_OUTCOME, ev.OUTCOME_DENIED)]})
    return {
        "traceId": trace_id, "spanId": trace_id[:16], "name": "live.event save", "kind": 2,
        "startTimeUnixNano": str(INCIDENT_NS), "endTimeUnixNano": str(INCIDENT_NS + 5_000_000),
        "attributes": [_attr(keys.EVENT_ID, f"evt-{trace_id[:8]}"), _attr(keys.SESSION_ID, f"sess-{trace_id[:8]}"),
                       _attr(keys.ERROR_TYPE, error), _attr(keys.ROUTE_ID, "board")],
        "events": events, "status": {"code": 2, "message": "boom"},
    }


def _request() -> dict[str, Any]:
    resource = [_attr(keys.SERVICE_NAME, "shop"), _attr("service.version", "1.1"),
                _attr(keys.DEPLOYMENT_ENVIRONMENT, "production")]
    spans = [_error_span(SECURE_TRACE, "ValueError", True), _error_span(PLAIN_TRACE, "KeyError", False)]
    return {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": spans}]}]}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("gates") / "store.duckdb"
    con = connect(db)
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=300)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=300)
    e.write(con)
    con.close()
    running = _collector_fixtures().start_collector(db)
    try:
        assert httpx.post(f"{running.url}/v1/traces", json=_request(), timeout=30).status_code == 200
    finally:
        running.stop(timeout=30)
    return db


def _pages(db: Path, *paths: str) -> list[str]:
    """Each page's HTML from a fresh ``liveobs ui`` server over the store file."""
    local = open_local(db)
    server = UIServer(local.connection, db=str(db)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.cookies.set(COOKIE, server.key)
            answers = [client.get(path) for path in paths]
    finally:
        server.close()
        local.close()
    assert [a.status_code for a in answers] == [200] * len(paths), [a.text[:300] for a in answers]
    return [a.text for a in answers]


def _fingerprint(db: Path, trace_id: str) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT Fingerprint FROM liveobs_errors WHERE TraceId = ? LIMIT 1", [trace_id]).fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0])


def _check(db: Path, *args: str) -> int:
    return CliRunner().invoke(main, ["--db", str(db), "check", *args]).exit_code


def test_the_security_gate_answer_on_an_incident_follows_the_recorded_runs(store: Path) -> None:
    secure, plain = _fingerprint(store, SECURE_TRACE), _fingerprint(store, PLAIN_TRACE)
    [before, other, gates] = _pages(store, f"/incidents/{secure}", f"/incidents/{plain}", "/gates")
    assert "release 1.1: <span class='failed'>security gate not run since this incident</span>" in before
    assert "security gate" not in other  # no security decision, no marker: not security-affecting
    assert "no gate runs recorded" in gates

    assert _check(store, "observability", "--release", "1.1") in (0, 1, 2)  # not the security gate
    [still] = _pages(store, f"/incidents/{secure}")
    assert "security gate not run since this incident" in still

    assert _check(store, "security", "--release", "1.1", "--budgets", str(_tight(store.parent))) == 1
    [failed] = _pages(store, f"/incidents/{secure}")
    assert "release 1.1: <span class='failed'>security gate run since this incident did not pass</span>" in failed

    assert _check(store, "security", "--release", "1.1", "--service", "shop") == 0
    [after] = _pages(store, f"/incidents/{secure}")
    passed = re.search(r"release 1\.1: <span class='ok'>security gate passed at (\S+)Z</span> "
                       r"\(<a href='/gates/([0-9a-f]{32})'>run</a>\)", after)
    assert passed, after[after.find("security gate"):][:500]
    assert "not run since" not in after
    [run_page] = _pages(store, f"/gates/{passed.group(2)}")
    assert passed.group(1) in run_page
    assert "security.csp" in run_page


def test_gates_lists_the_latest_run_per_release_and_gate_with_each_check(tmp_path: Path, store: Path) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(store.read_bytes())
    earlier = _run_count(db)
    assert _check(db, "security", "--release", "1.0") == 0
    assert _check(db, "security", "--release", "1.1", "--budgets", str(_tight(tmp_path))) == 1
    assert _check(db, "security", "--release", "1.1") == 0
    [page] = _pages(db, "/gates")
    blocks = re.findall(r"<h2><a href='/gates/([0-9a-f]{32})'>security — <span class='(\w+)'>(\w+)</span>", page)
    assert [(css, status) for _, css, status in blocks] == [("ok", "pass"), ("ok", "pass")]  # 1.1's latest, then 1.0
    assert "release 1.1" in page
    assert "release 1.0" in page
    row = re.search(r"<tr><td><code class='id'>security\.ws_origin</code></td><td><span class='ok'>pass</span></td>"
                    r"<td>required</td><td>([^<]+)</td><td>[^<]*</td><td>[^<]+</td><td>(\d+)</td>", page)
    assert row, page[:2000]
    assert int(row.group(2)) > 0
    assert _run_count(db) == earlier + 3  # every run recorded; the page shows the latest per release and gate


def _run_count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM liveobs_gate_runs").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def test_a_failing_check_links_to_the_evidence_of_its_release(tmp_path: Path, store: Path) -> None:
    db = tmp_path / "copy.duckdb"
    db.write_bytes(store.read_bytes())
    assert _check(db, "security", "--release", "1.1", "--budgets", str(_tight(tmp_path))) == 1
    [page] = _pages(db, "/gates")
    row = re.search(r"<tr><td><code class='id'>security\.ws_origin</code></td><td><span class='failed'>fail</span>"
                    r".*?<a href='(/incidents\?[^']+)'>evidence</a></td></tr>", page)
    assert row, page[:3000]
    assert row.group(1) == "/incidents?release=1.1&amp;service=shop&amp;environment=production"
    [incidents] = _pages(db, "/incidents?release=1.1&service=shop&environment=production")
    assert "ValueError" in incidents
    assert "KeyError" in incidents


def _tight(tmp_path: Path) -> Path:
    """Budgets under which security.ws_origin fails (an observed value it can never reach)."""
    path = tmp_path / "tight.toml"
    path.write_text('[checks."security.ws_origin"]\nmin = 1000000\n')
    return path


def test_the_security_affecting_rule_reads_decisions_error_classes_and_routes(store: Path) -> None:
    secure, plain = _fingerprint(store, SECURE_TRACE), _fingerprint(store, PLAIN_TRACE)
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert security_affecting(con, secure, "ValueError", ["board"])  # a liveobs.security decision in its trace
        assert not security_affecting(con, plain, "KeyError", ["board"])
        assert security_affecting(con, plain, "django.core.exceptions.PermissionDenied", ["board"])
        assert security_affecting(con, plain, "KeyError", ["/accounts/csrf-failure"])
        assert not security_affecting(con, plain, "security.KeyError", ["board"])  # the class's own name only
    finally:
        con.close()
