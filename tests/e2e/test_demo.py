"""`make demo`'s runner end to end: releases, units, deploy, session, trace, gates, rollback, nothing left behind."""

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
@pytest.mark.timeout(330)
def test_demo_finds_the_failing_click_from_its_reference_and_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO / "examples" / "kukulkan")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kukulkan.demo", "--state", str(state), "--refreshes", "5"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    # A first run builds both wheels and venvs; the demo itself reports its time (its target: a minute on a
    # repeat run on a quiet machine). Bounded here so that a hang fails.
    assert elapsed < 300

    reference = re.search(rf'"Something went wrong — reference ({UUID7})"', out)
    assert reference is not None, out
    event_id = reference.group(1)
    assert f"$ liveobs trace --event-id {event_id}" in out
    assert re.search(rf"FAILED TypeError\s+\(event_id {event_id}\)", out), out
    assert "/releases/1.4.0/venv/lib/" in out  # the failing frame is the release's code, not the checkout's
    assert re.search(r"refused +foreign origin → 403, foreign host → 403, oversized body → 413, "
                     r"password guessing → 401/429", out), out
    web = re.search(r"in a browser +(http://127\.0\.0\.1:\d+)/incidents ", out)
    assert web is not None, out
    for gate in GATES:
        assert re.search(rf"^  {gate}\s+\S", out, re.MULTILINE), out
    # Kukulkan 1.4.0 is correct but for the one bug: the driven evidence decides these gates.
    for gate in ("observability", "security"):
        assert re.search(rf"^  {gate}\s+pass\s+exit 0", out, re.MULTILINE), out
    # The changed surface: 1.4.0 adds two live events and a capability; the dry run answered for 1.4.0.
    assert "dry run of kukulkan 1.4.0: 4 of 4 probes answered as they should; every unit stopped" in out, out
    assert re.search(r"note: selected scope .*capability cards\.clear added", out), out
    assert "kukulkan: pointed current at releases/1.3.2 (was 1.4.0)" in out
    # The deploy gate finds the failing click's bug: the new live event sort_by_due failed in its traffic.
    assert re.search(r"^  deploy\s+fail\s+exit 1", out, re.MULTILINE), out
    shown = dict(re.findall(r"^      (deploy\.\w+): (.+)$", out, re.MULTILINE))
    assert "live event sort_by_due (added): 1 of 2 failed" in shown["deploy.surface_endpoint"]
    # With --refreshes 5 the rollback target's own (not driven) traffic stays under the demo's 50 requests.
    assert set(shown) - {"deploy.surface_endpoint"} <= {"deploy.rollback"}, out
    if "deploy.rollback" in shown:
        assert re.fullmatch(r"1 breaks <= 0: rollback target 1\.3\.2 served \d+ requests, need 50",
                            shown["deploy.rollback"]), out
    # Two release directories from two wheels that differ; the units ran from the link and were restarted.
    digests = re.findall(r"(\d\.\d\.\d) kukulkan-\1-py3-none-any\.whl sha256:([0-9a-f]{12})…", out)
    assert [v for v, _ in digests] == ["1.3.2", "1.4.0"], out
    assert digests[0][1] != digests[1][1], out
    root = state / "deploy"
    assert os.readlink(root / "current") == "releases/1.3.2"  # the rollback's link stays
    for unit in ("kukulkan-api", "kukulkan-ui"):
        text = (root / "units" / f"{unit}.service").read_text()
        assert f"ExecStart={root.resolve()}/current/venv/bin/{unit}\n" in text
    steps = re.findall(r"^(units started|deployed|rolled back) +current → releases/(\S+); kukulkan-api pid (\d+) "
                       r"http://\S+, kukulkan-ui pid (\d+) http://\S+: /readyz and /live/readiness\.json answer "
                       r"(\S+)$", out, re.MULTILINE)
    assert [(s[0], s[1], s[4]) for s in steps] == [("units started", "1.3.2", "1.3.2"), ("deployed", "1.4.0", "1.4.0"),
                                                   ("rolled back", "1.3.2", "1.3.2")], out
    assert len({s[2] for s in steps}) == len({s[3] for s in steps}) == 3  # restarted: new processes each time
    # Load in alternating slices of both releases; the driver's full scenario against the new release.
    slices = re.findall(r"^driven slice +(\S+) (\d): 40 sessions, (\d+) live connects", out, re.MULTILINE)
    assert [(v, n) for v, n, _ in slices] == [("1.3.2", "1"), ("1.4.0", "1"), ("1.3.2", "2"), ("1.4.0", "2"),
                                              ("1.3.2", "3"), ("1.4.0", "3")], out
    assert re.search(r"^liveobs drive +8 sessions, \d+ live connects", out, re.MULTILINE), out
    assert out.count("EICAR canary → 422; 5 of 5 scope and capability attempts denied; signed-in socket: "
                     "foreign origin → 403, foreign host → 403") == 1, out
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
    assert len(urls) == 3  # the collector and the two units (the same ports at every release)
    assert all(_port_closed(url) for url in urls)
