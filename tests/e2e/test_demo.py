"""`make demo`'s runner end to end: collector, app, session, trace, gates, and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIVEOBS = str(Path(sys.executable).parent / "liveobs")
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
GATES = ("observability", "security", "performance", "deploy")


def _port_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_demo_finds_the_failing_click_from_its_reference_and_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO / "examples" / "kukulkan")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kukulkan.demo", "--state", str(state), "--refreshes", "5"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=90, check=False)
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert elapsed < 60

    reference = re.search(rf'"Something went wrong — reference ({UUID7})"', out)
    assert reference is not None, out
    event_id = reference.group(1)
    assert f"$ liveobs trace --event-id {event_id}" in out
    assert re.search(rf"FAILED TypeError\s+\(event_id {event_id}\)", out), out
    assert re.search(r"refused +foreign origin → 403, foreign host → 403, oversized body → 413, "
                     r"password guessing → 401/429", out), out
    web = re.search(r"in a browser +(http://127\.0\.0\.1:\d+)/incidents ", out)
    assert web is not None, out
    for gate in GATES:
        assert re.search(rf"^  {gate}\s+\S", out, re.MULTILINE), out
    # Kukulkan 1.4.0 is correct but for the one bug: the driven evidence decides these gates. (Deploy is
    # not asserted: with --refreshes 5 the rollback target serves fewer requests than the demo budget asks.)
    for gate in ("observability", "security"):
        assert re.search(rf"^  {gate}\s+pass\s+exit 0", out, re.MULTILINE), out
    # The driver ran against both releases and got the answers a correct app gives.
    driven = re.findall(r"^liveobs drive +120 sessions, (\d+) live connects", out, re.MULTILINE)
    assert len(driven) == 2, out
    assert all(int(n) >= 12 for n in driven), out
    assert out.count("EICAR canary → 422; 4 of 4 scope and capability attempts denied; signed-in socket: "
                     "foreign origin → 403, foreign host → 403") == 2, out
    assert "UNEXPECTED" not in out

    # What the demo printed is what the server recorded: read the store it left behind.
    db = state / "liveobs.duckdb"
    stored = subprocess.run([LIVEOBS, "--db", str(db), "trace", "--event-id", event_id, "--json"],
                            capture_output=True, text=True, timeout=30, check=True)
    trace = json.loads(stored.stdout)
    assert trace["event_id"] == event_id
    assert trace["error_class"] == "TypeError"
    assert trace["service"] == "kukulkan"
    assert trace["release"] == "1.4.0"
    failed = [s for s in trace["spans"] if s["name"] == "live.event sort_by_due"]
    assert len(failed) == 1
    assert failed[0]["attributes"]["liveobs.event.id"] == event_id
    assert trace["session_id"] == failed[0]["attributes"]["session.id"]

    # Nothing left running: the discovery file is gone and both ports are closed.
    assert not (state / "liveobs.duckdb.collector.json").exists()
    urls = set(re.findall(r"http://127\.0\.0\.1:\d+", out))
    assert len(urls) == 3  # the collector and the app at each of the two releases
    assert all(_port_closed(url) for url in urls)
