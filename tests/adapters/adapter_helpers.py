"""Shared by the adapter tests: a real ``liveobs collect`` and a test app under uvicorn, both on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from kukulkan.demo import Processes, start_collector

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
__all__ = ["HERE", "REPO", "UUID7", "Processes", "liveobs_json", "start_app", "start_collector"]


def start_app(
    procs: Processes, target: str, collector_url: str, state: Path, ready_path: str, server: str = "uvicorn",
) -> tuple[subprocess.Popen[bytes], str]:
    """``uvicorn <target>`` (or ``daphne``, or ``python <target>.py <fd>`` for an app that runs its own server;
    a module of this folder) on a socket bound here, exporting to the collector."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # the app is not under test itself (NiceGUI changes its ports when it is)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        OTEL_EXPORTER_OTLP_ENDPOINT=collector_url,
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    if server == "python":
        argv = [sys.executable, str(HERE / f"{target}.py"), str(sock.fileno())]
    elif server == "daphne":
        argv = [sys.executable, "-m", "daphne", "--fd", str(sock.fileno()), target]
    else:
        argv = [sys.executable, "-m", "uvicorn", target, "--fd", str(sock.fileno()), "--no-access-log",
                "--ws", "websockets-sansio", "--timeout-graceful-shutdown", "5"]
    try:
        proc = procs.start("app", argv, state / "app.log", env=env, pass_fds=[sock.fileno()])
    finally:
        sock.close()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited with {proc.returncode}: {(state / 'app.log').read_text()}")
        try:
            if httpx.get(base_url + ready_path, timeout=1.0).status_code == 200:
                return proc, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the app did not start within 20 s")


def liveobs_json(db: Path, *args: str) -> Any:
    """``liveobs --db <db> <args> --json``, decoded; fails the test on a non-zero exit."""
    command = [str(Path(sys.executable).parent / "liveobs"), "--db", str(db), *args, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def trace_and_incidents(db: Path, out: Path, reference: str) -> tuple[Any, Any]:
    """``liveobs trace --event-id reference`` and ``liveobs incidents``, each also kept as JSON in ``out``."""
    trace = liveobs_json(db, "trace", "--event-id", reference)
    (out / "trace.json").write_text(json.dumps(trace, indent=1))
    incidents = liveobs_json(db, "incidents")
    (out / "incidents.json").write_text(json.dumps(incidents, indent=1))
    return trace, incidents
