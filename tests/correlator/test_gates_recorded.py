"""Every security and deploy check over evidence the real SDK and the real probe recorded (a table test).

Three small apps (``gate_apps.py``) run under uvicorn on 127.0.0.1, each its own
process with the liveobs SDK exporting OTLP to a real ``liveobs collect``: one
configured well, one with every weakness the audit of the gates found passing, and
a quiet one that served a single page. The tests drive each one (pages, uploads
with the EICAR canary, capability and scope decisions, WebSocket handshakes) and
run ``liveobs probe`` against the first two. The good app passes, the weak one
fails for the reason the evidence shows, and the quiet one is unknown where it
gave too little evidence (or not applicable where there was nothing to judge).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator._db import connect
from liveobs.correlator.gates import CheckResult, Status, Subject, run_gates
from liveobs.correlator.gates._probe import _handshake
from liveobs.evidence import EICAR

pytestmark = pytest.mark.timeout(180)

HERE = Path(__file__).resolve().parent
P, F, U, NA = Status.PASS, Status.FAIL, Status.UNKNOWN, Status.NOT_APPLICABLE
# check -> (good, weak, quiet), and for the weak app the words its reason must hold.
TABLE: dict[str, tuple[Status, Status, Status, str]] = {
    "security.csp": (P, F, P, "'unsafe-eval'"),
    "security.sri": (P, F, P, "malformed integrity"),
    "security.ws_origin": (P, F, U, "https://probe-foreign.invalid"),
    "security.ws_host": (P, F, U, "accepted"),
    "security.body_limit": (P, F, U, "1 accepted"),
    "security.upload_scan": (P, F, NA, "scanner noop/0 called it clean"),
    "security.rate_limit": (P, F, U, "let through"),
    "security.scope": (P, F, U, "1 grants outside scope"),
    "security.capability": (P, F, U, "board.delete"),
    "security.session_key_age": (P, F, P, "200.0 days"),
    "security.key_custody": (P, P, P, ""),
    "deploy.readiness": (P, F, U, "redirected"),
    "observability.error_classes": (NA, NA, NA, ""),
    "observability.trace_connectivity": (P, P, U, ""),
    "performance.cpu": (P, P, U, ""),
    "performance.render": (P, P, U, ""),
    "performance.memory": (P, P, U, ""),
}


def _collector_module() -> ModuleType:
    name = "correlator_collector_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "conftest.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class App:
    """One gate app in its own process."""

    def __init__(self, config: str, otlp: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        # The quiet app exports its metrics only at shutdown (one point per instrument), so however long a
        # loaded machine takes to start it, its CPU and memory evidence stays under the checks' floors.
        interval = "600000" if config == "quiet" else "300"
        env = {**os.environ, "GATE_APP_OTLP": otlp, "OTEL_METRIC_EXPORT_INTERVAL": interval,
               "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"}
        self.process = subprocess.Popen([sys.executable, str(HERE / "gate_apps.py"), config, str(self.port)], env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the {config} app exited") from None
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the {config} app did not start")

    def stop(self) -> None:
        """A graceful stop: the app flushes its last spans and metrics."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _drive(app: App) -> None:
    cookies = {"sid": "visitor-1"}
    with httpx.Client(base_url=app.url, cookies=cookies, timeout=10) as client:
        for _ in range(5):
            assert client.get("/").status_code == 200
        client.post("/upload", content=b"quarterly report")
        client.post("/upload", content=EICAR)
        client.get("/act", params={"role": "viewer", "capability": "board.delete"})
        client.get("/act", params={"role": "viewer", "capability": "board.read"})
        client.get("/act", params={"role": "viewer", "scopes": "board:read,board:write"})
        client.get("/act", params={"role": "editor", "scopes": "board:read,board:write"})
        client.get("/act", params={"role": "viewer", "scopes": ""})
    own = f"127.0.0.1:{app.port}"
    assert _handshake(app.url, "/live/websocket", f"http://{own}", own, 5.0) == 101
    # An unrelated refusal (a client that sends no Origin): it must not cover for an accepted attack.
    _handshake_without_origin(app.port)


def _handshake_without_origin(port: int) -> None:
    request = (f"GET /live/websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode("ascii"))
        sock.recv(1024)


def _probe(db: Path, app: App, service: str) -> None:
    result = CliRunner().invoke(main, ["--db", str(db), "probe", app.url, "--service", service, "--environment",
                                       "production", "--release", "2.0.0", "--burst", "60"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, CheckResult]]]:
    db = tmp_path_factory.mktemp("recorded") / "store.duckdb"
    collector = _collector_module().start_collector(db)
    try:
        for config in ("good", "weak", "quiet"):
            app = App(config, collector.url)
            try:
                if config == "quiet":
                    httpx.get(app.url, cookies={"sid": "visitor-1"}, timeout=10)
                else:
                    _drive(app)
                    _probe(db, app, f"{config}-app")
                    time.sleep(1.6)  # metric exports every 0.3 s: CPU intervals and memory samples enough
            finally:
                app.stop()
    finally:
        assert collector.stop(timeout=30) == 0
    con = connect(db)
    try:
        out: dict[str, dict[str, CheckResult]] = {}
        for config in ("good", "weak", "quiet"):
            subject = Subject(service=f"{config}-app", release="2.0.0", environment="production")
            report = run_gates(con, "all", subject)
            out[config] = {r.id: r for r in report.results}
        yield out
    finally:
        con.close()


@pytest.mark.parametrize("check", sorted(TABLE))
def test_the_well_configured_app_passes(recorded: dict[str, dict[str, CheckResult]], check: str) -> None:
    result = recorded["good"][check]
    assert result.status is TABLE[check][0], result.reason


@pytest.mark.parametrize("check", sorted(TABLE))
def test_the_badly_configured_app_fails_for_what_was_observed(
        recorded: dict[str, dict[str, CheckResult]], check: str) -> None:
    result = recorded["weak"][check]
    assert result.status is TABLE[check][1], result.reason
    assert TABLE[check][3] in result.reason


@pytest.mark.parametrize("check", sorted(TABLE))
def test_too_little_evidence_is_unknown_or_not_applicable(
        recorded: dict[str, dict[str, CheckResult]], check: str) -> None:
    result = recorded["quiet"][check]
    assert result.status is TABLE[check][2], result.reason


def test_the_weak_apps_csp_is_failed_for_each_weakness_and_its_static_nonce(
        recorded: dict[str, Any]) -> None:
    reason = recorded["weak"]["security.csp"].reason
    for words in ("'unsafe-eval'", "script-src allows *", "object-src allows *", "base-uri allows *",
                  "frame-ancestors not set", "nonces served on more than one response"):
        assert words in reason, words
