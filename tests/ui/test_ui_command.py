"""``liveobs ui`` as a user runs it: a subprocess over a store file, its printed URL opened with the key,
Ctrl-C stopping it and removing its discovery file; a store held by a running collector is a clear error."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.test_cli_hostile_text import _collector_fixtures
from tests.cli.test_cli_stacktrace import TRACE_ID, _request
from tests.waiting import readable


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("uicmd") / "store.duckdb"
    running = _collector_fixtures().start_collector(db)
    try:
        assert httpx.post(f"{running.url}/v1/traces", json=_request(), timeout=30).status_code == 200
    finally:
        running.stop(timeout=30)
    return db


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LIVEOBS_TOKEN", None)
    env.pop("LIVEOBS_TOKEN_FILE", None)
    return env


def _first_line(process: subprocess.Popen[str], timeout: float = 20) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = readable(process.stdout, 0.2)
        if ready:
            return process.stdout.readline()
        if process.poll() is not None:
            break
    raise AssertionError("liveobs ui printed no URL")


def test_ui_serves_the_store_until_interrupted(store: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "liveobs.cli", "--db", str(store), "ui"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        line = _first_line(process)
        found = re.fullmatch(r"liveobs ui: (http://127\.0\.0\.1:\d+)/incidents\?key=(\S+)\n", line)
        assert found is not None, line
        base = found.group(1)
        assert Path(f"{store}.ui.json").exists()
        with httpx.Client(timeout=30) as client:
            assert client.get(f"{base}/incidents").status_code == 401
            listing = client.get(line.split(": ", 1)[1].strip(), follow_redirects=True)
            assert listing.status_code == 200
            assert "KeyError" in listing.text
            assert client.get(f"{base}/traces/{TRACE_ID}").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert not Path(f"{store}.ui.json").exists()


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job of a script


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ui_stops_on_a_signal_and_removes_its_discovery_file_even_started_ignoring_sigint(
    store: Path, sig: signal.Signals
) -> None:
    process = subprocess.Popen([sys.executable, "-m", "liveobs.cli", "--db", str(store), "ui"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                               preexec_fn=_ignoring_sigint)
    try:
        assert _first_line(process).startswith("liveobs ui: http://127.0.0.1:")
        assert Path(f"{store}.ui.json").exists()
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert not Path(f"{store}.ui.json").exists()


def test_ui_refuses_a_store_a_collector_holds(tmp_path: Path) -> None:
    running: Any = _collector_fixtures().start_collector(tmp_path / "held.duckdb")
    try:
        result = subprocess.run([sys.executable, "-m", "liveobs.cli", "--db", str(running.db), "ui"],
                                capture_output=True, text=True, env=_env(), timeout=60, check=False)
    finally:
        running.stop(timeout=30)
    assert result.returncode == 3
    assert "cannot open the store" in result.stderr or "held by another process" in result.stderr


def test_ui_serves_on_loopback_only(store: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "liveobs.cli", "--db", str(store), "ui", "--host", "0.0.0.0"],
                            capture_output=True, text=True, env=_env(), timeout=60, check=False)
    assert result.returncode == 2
    assert "loopback address only" in result.stderr
