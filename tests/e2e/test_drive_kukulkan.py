"""``liveobs drive`` against the real Kukulkan app on 127.0.0.1, with its own scenario file.

The app runs under a real uvicorn with its spans kept in memory, so the tests see
both sides: what the driver reports, and what the app's SDK recorded (every span
marked driven). The driver's outside observations go to a real DuckDB store.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kukulkan.accounts import DEMO_ACCOUNTS
from kukulkan_helpers import EXAMPLE, Served, serve

from liveobs.cli import main
from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator._db import connect

pytestmark = pytest.mark.timeout(120)
SCENARIO = EXAMPLE / "drive.toml"
CREDENTIALS = {f"KUKULKAN_DRIVE_{name.upper()}_PASSWORD": password for name, password, _ in DEMO_ACCOUNTS}


def _drive(served: Served, db: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["--db", str(db), "drive", served.url, "--scenario", str(SCENARIO),
                                       "--service", "kukulkan", "--release", "1.4.0", "--json", *args],
                                env=CREDENTIALS)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    # The app runs in this process and its log lines go to stdout too: the report is the JSON document.
    lines = result.stdout.splitlines()
    return result.exit_code, json.loads("\n".join(lines[lines.index("{"):]))


def _observations(db: Path) -> list[dict[str, str]]:
    """The driver's outside observations in the store: one security event per drive step."""
    con = connect(str(db))
    try:
        rows = con.execute("""SELECT SpanAttributes[$step], unnest(Events.Attributes)
                              FROM otel_traces WHERE ScopeName = $scope""",
                           {"step": ev.PROBE_STEP, "scope": ev.PROBE_SCOPE}).fetchall()
    finally:
        con.close()
    return [{"step": step, **attributes} for step, attributes in rows]


def test_drive_runs_kukulkans_scenario_and_the_app_records_every_span_as_driven(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with serve() as served:
        code, report = _drive(served, db, "--sessions", "4")
        spans = served.spans.get_finished_spans()
    assert code == 0, report["unexpected"]
    assert report["release"] == "1.4.0"
    assert report["sessions"] == 4
    assert report["connects"] == 5
    assert report["reconnects"] == 1
    assert report["page_loads"] == 20
    # refresh 28 times per session, ana's two moves in her two sessions, the reconnect's first action.
    assert report["actions"] == 4 * 28 + 2 * 2 + 1
    assert report["failed_actions"] == 0
    canary = [u for u in report["uploads"] if u["canary"]]
    assert [u["status"] for u in report["uploads"] if not u["canary"]] == [200] * 5
    assert [(u["file"], u["status"]) for u in canary] == [("eicar.com", 422)]
    assert {a["name"]: a["outcome"] for a in report["attempts"]} == {
        "add a card over the live socket": "denied", "archive a card over the live socket": "denied",
        "clear the done column over the live socket": "denied", "rotate the session key": "denied",
        "attach a file": "denied"}
    assert [(s["attempt"], s["status"]) for s in report["sockets"]] == [("control", 101), ("ws_origin", 403),
                                                                       ("ws_host", 403)]
    assert report["rate_limit"]["limited"] > 0
    assert report["unexpected"] == []

    # The app's own record: every request, socket and live event of the run is marked driven.
    server = [s for s in spans if s.kind.name == "SERVER" or s.name.startswith("live.")]
    assert len(server) > 50
    unmarked = [s.name for s in server if (s.attributes or {}).get(keys.EVIDENCE_SOURCE) != keys.EVIDENCE_DRIVEN]
    assert unmarked == []
    assert sum(s.name == "live.connection" for s in server) >= 5
    # What only the driver knows (the answer a correct app gives) is in the store, with the expected outcome.
    seen = {(o["step"], o[ev.SECURITY_OUTCOME], o.get(ev.SECURITY_EXPECTED)) for o in _observations(db)}
    assert seen == {
        ("drive.upload_scan", ev.OUTCOME_INFECTED, None), ("drive.scope", ev.OUTCOME_DENIED, ev.OUTCOME_DENIED),
        ("drive.capability", ev.OUTCOME_DENIED, ev.OUTCOME_DENIED),
        ("drive.ws_origin", ev.OUTCOME_REFUSED, ev.OUTCOME_REFUSED),
        ("drive.ws_host", ev.OUTCOME_REFUSED, ev.OUTCOME_REFUSED),
        ("drive.rate_limit", ev.OUTCOME_REFUSED, ev.OUTCOME_REFUSED),
    }
    decisions = {o[ev.SECURITY_DECISION] for o in _observations(db) if o["step"] == "drive.upload_scan"}
    assert decisions == {ev.OUTCOME_REFUSED}


def test_drive_says_what_a_weakened_kukulkan_accepts_and_exits_1(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with serve(weaken=frozenset({"csp", "sockets", "scanner"})) as served:
        code, report = _drive(served, db, "--sessions", "2")
    assert code == 1
    assert report["unexpected"] == [
        "the EICAR canary was accepted (200)",
        "foreign origin https://drive-foreign.invalid accepted on /live",
        "foreign host drive-foreign.invalid accepted on /live",
    ]
    accepted = {(o["step"], o.get(ev.SECURITY_DECISION) or o[ev.SECURITY_OUTCOME]) for o in _observations(db)
                if o["step"] in ("drive.upload_scan", "drive.ws_origin", "drive.ws_host")}
    assert accepted == {("drive.upload_scan", ev.OUTCOME_ACCEPTED), ("drive.ws_origin", ev.OUTCOME_ACCEPTED),
                        ("drive.ws_host", ev.OUTCOME_ACCEPTED)}


def test_drive_browser_pass_times_the_signed_in_board_in_headless_chromium_marked_driven(tmp_path: Path) -> None:
    with serve() as served:
        code, report = _drive(served, tmp_path / "store.duckdb", "--sessions", "0", "--browser", "--no-record")
        time.sleep(0.5)  # the last page's socket closes as Chromium quits
        spans = served.spans.get_finished_spans()
    assert code == 0, report["unexpected"]
    browser = report["browser"]
    assert browser["pages"] == ["/board"]
    assert browser["loads"] == 3
    timing = browser["timing_ms"]
    assert 0 < timing["ttfb"]["p50"] <= timing["dom_content_loaded"]["p50"] <= timing["load"]["p50"] < 10_000
    # Chromium's own loads of the signed-in board (not a redirect to sign-in) reached the app marked driven,
    # and the board's script opened the live socket from the browser.
    chrome = [s for s in spans if "Chrome" in str((s.attributes or {}).get(keys.USER_AGENT_ORIGINAL, ""))]
    boards = [s for s in chrome if s.name == "GET /board"]
    assert len(boards) == 3
    assert {(s.attributes or {}).get(keys.HTTP_RESPONSE_STATUS_CODE) for s in boards} == {200}
    assert {(s.attributes or {}).get(keys.EVIDENCE_SOURCE) for s in boards} == {keys.EVIDENCE_DRIVEN}
    # Each load is a visitor of its own: three sessions, each with its own socket, none a reconnect.
    sessions = {(s.attributes or {}).get(keys.SESSION_ID) for s in boards}
    assert len(sessions) == 3
    sockets = [s for s in spans if s.name == "live.connection" and (s.attributes or {}).get(keys.SESSION_ID) in sessions]
    assert len(sockets) == 3
    assert {(s.attributes or {}).get(keys.EVIDENCE_SOURCE) for s in sockets} == {keys.EVIDENCE_DRIVEN}
    assert not [s for s in sockets if (s.attributes or {}).get(keys.RECONNECT)]


def test_drive_refuses_an_app_it_cannot_reach_with_exit_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "s.duckdb"), "drive", "http://127.0.0.1:9",
                                       "--scenario", str(SCENARIO)], env=CREDENTIALS)
    assert result.exit_code == 3
    assert "cannot drive http://127.0.0.1:9" in result.stderr


def test_an_answer_that_says_nothing_of_the_content_or_grant_is_no_verdict(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    # One upload per client and one live action per user, then 429 or "slow down": the canary is never
    # scanned and the viewer's second attempt never reaches the capability check, so neither is recorded.
    with serve(rate_burst=1, rate_per_second=0.01) as served:
        code, report = _drive(served, db, "--sessions", "0")
    assert code == 1
    assert [(u["file"], u["status"], u["outcome"]) for u in report["uploads"]][:2] == [
        ("driven-1.txt", 200, "accepted"), ("driven-2.txt", 429, None)]
    assert report["uploads"][-1] == {"file": "eicar.com", "status": 429, "canary": True, "outcome": None}
    assert "the EICAR canary answered 429: no verdict on the scan" in report["unexpected"]
    attempts = {a["name"]: (a["answer"], a["outcome"]) for a in report["attempts"]}
    assert attempts["add a card over the live socket"] == ("denied", "denied")
    assert attempts["archive a card over the live socket"] == ("reply without patch: no verdict", None)
    steps = [(o["step"], o.get(ev.CAPABILITY_NAME)) for o in _observations(db)]
    assert ("drive.upload_scan", None) not in steps
    assert ("drive.capability", "cards.archive") not in steps


def test_drive_over_tls_tries_foreign_origin_and_host_on_the_signed_in_wss_socket(tmp_path: Path) -> None:
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True, timeout=60)
    with serve(tls=(certificate, key)) as served:
        assert served.url.startswith("https://")
        untrusted = CliRunner().invoke(main, ["--db", str(tmp_path / "s.duckdb"), "drive", served.url,
                                              "--scenario", str(SCENARIO), "--sessions", "1"], env=CREDENTIALS)
        code, report = _drive(served, tmp_path / "store.duckdb", "--sessions", "2", "--ca-file", str(certificate))
    assert untrusted.exit_code == 3
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert code == 0, report["unexpected"]
    assert report["connects"] == 3
    assert [(s["attempt"], s["status"]) for s in report["sockets"]] == [("control", 101), ("ws_origin", 403),
                                                                       ("ws_host", 403)]
    assert report["sockets"][1]["origin"] == "https://drive-foreign.invalid"
    assert report["sockets"][2]["host"] == "drive-foreign.invalid"
