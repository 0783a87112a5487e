"""``make demo``: the collector, the app, a user session with a failing click, and the answer.

Starts ``liveobs collect`` (its store under ``var/kukulkan/``) and the app on
127.0.0.1, drives a scripted session over the live protocol and ``liveobs drive``
with Kukulkan's scenario against both releases (the evidence the gates need), then
prints ``liveobs trace --event-id <reference>`` for the failing click and one line
per gate, with the reason of each failing check. ``--weaken`` serves the new release
with guards deliberately weakened. Everything it starts is stopped on the way out,
also on failure or Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final

import httpx

from kukulkan.accounts import DEMO_ACCOUNTS
from kukulkan.release import MANIFEST_PATH, load_manifest
from kukulkan.scenario import run_baseline, run_session

REPO: Final = Path(__file__).resolve().parents[3]
EXAMPLE: Final = Path(__file__).resolve().parents[1]
DEFAULT_STATE: Final = REPO / "var" / "kukulkan"
GATES: Final = ("observability", "security", "performance", "deploy")
DRIVE_SCENARIO: Final = EXAMPLE / "drive.toml"
CHROMIUM: Final = Path("/usr/bin/chromium")
START_TIMEOUT: Final = 20.0


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which."""


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class Processes:
    """The child processes the demo started, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self._children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None,
              pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, pass_fds=tuple(pass_fds), cwd=REPO)
        self._children.append((name, proc, out))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
        """SIGTERM (a graceful stop that flushes telemetry), then SIGKILL after ``timeout``."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for entry in self._children:
            if entry[1] is proc:
                entry[2].close()
        return proc.returncode

    def stop_all(self) -> None:
        for _, proc, _ in reversed(self._children):
            self.stop(proc)
        self._children.clear()


@contextmanager
def processes() -> Iterator[Processes]:
    procs = Processes()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield procs
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for(what: str, check: object, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with {proc.returncode}; see {log}")
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise DemoError(f"{what} did not start within {timeout:.0f} s; see {log}")


def start_collector(procs: Processes, db: Path, state: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``liveobs collect --port 0``; its URL comes from the discovery file it writes."""
    discovery = db.with_name(db.name + ".collector.json")
    log = state / "collector.log"
    proc = procs.start("collector", [_bin("liveobs"), "--db", str(db), "collect", "--port", "0"], log)
    found: dict[str, object] = {}

    def ready() -> bool:
        try:
            data = json.loads(discovery.read_text())
        except (OSError, ValueError):
            return False
        if data.get("pid") != proc.pid:
            return False
        found.update(data)
        return True

    _wait_for("liveobs collect", ready, proc, log, START_TIMEOUT)
    return proc, str(found["url"])


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def new_session_keys() -> str:
    """``KUKULKAN_SESSION_KEYS`` for one demo run: both releases share it, as a deploy would."""
    return "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def start_app(procs: Processes, collector_url: str, state: Path, release: str | None = None,
              session_keys: str | None = None, weaken: str = "") -> tuple[subprocess.Popen[bytes], str]:
    """The app under uvicorn on a socket bound here (no port race), exporting to the collector."""
    sock = _listening_socket()
    port = sock.getsockname()[1]
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(EXAMPLE), env.get("PYTHONPATH")])),
        KUKULKAN_OTLP_ENDPOINT=collector_url,
        KUKULKAN_SESSION_KEYS=session_keys or new_session_keys(),
        OTEL_METRIC_EXPORT_INTERVAL="100",  # a release lives seconds here: 100 ms gives CPU and memory 100+ samples
        # Each export then carries only its own interval, so counts over exports add up.
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="delta",
    )
    if release:
        env["KUKULKAN_RELEASE"] = release
    env.pop("KUKULKAN_WEAKEN", None)
    if weaken:
        env["KUKULKAN_WEAKEN"] = weaken
    log = state / "app.log"
    argv = [sys.executable, "-m", "uvicorn", "kukulkan.app:create_app", "--factory", "--fd", str(sock.fileno()),
            "--no-access-log", "--ws", "websockets-sansio", "--timeout-graceful-shutdown", "5"]
    try:
        proc = procs.start("app", argv, log, env=env, pass_fds=[sock.fileno()])
    finally:
        sock.close()
    base_url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(base_url + "/readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for("the app", ready, proc, log, START_TIMEOUT)
    return proc, base_url


def liveobs(db: Path, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_bin("liveobs"), "--db", str(db), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, check=False)


def gate_lines(db: Path, manifest: Path) -> list[str]:
    """One line per gate (its status, exit code and count of checks per status), then why each check failed.

    One ``liveobs check all`` run judges every check; each gate's status and exit code
    are those ``liveobs check <gate>`` gives, by the same rule (:class:`GateReport`).
    """
    from dataclasses import fields

    from liveobs.correlator.gates import CheckResult, GateReport

    budgets = manifest.parent / "demo-budgets.toml"  # a release life compressed into seconds
    result = liveobs(db, "check", "all", "--manifest", str(manifest), "--budgets", str(budgets), "--format", "json")
    try:
        doc = json.loads(result.stdout)
        known = {f.name for f in fields(CheckResult)}  # the JSON also carries each check's bounds and unit
        doc["checks"] = [{k: v for k, v in c.items() if k in known} for c in doc["checks"]]
        report = GateReport.from_dict(doc)
    except (ValueError, KeyError, TypeError):
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"  gates could not run (exit {result.returncode}): {reason}"]
    lines = []
    for gate in GATES:
        results = tuple(r for r in report.results if r.gate == gate)
        judged = GateReport(report.subject, results)
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        open_checks = [r.id.split(".", 1)[-1] for r in results if r.status.value in ("fail", "unknown")]
        shown = f"; not pass: {', '.join(open_checks)}" if open_checks else ""
        lines.append(f"  {gate:<14} {judged.status.value:<8} exit {int(judged.exit_code)}  ({detail}{shown})")
        lines += [f"      {r.id}: {r.reason}" for r in results if r.status.value == "fail"]
    return lines


def probe_line(db: Path, base_url: str, environment: str) -> str:
    """Probe the running release (page, asset, readiness, socket guards, body limit) into the store.

    The burst step is skipped: Kukulkan limits sign-in, uploads and live events, not
    page views, and the scripted session's password guessing shows the limit acting.
    """
    result = liveobs(db, "probe", base_url + "/signin", "--ws-path", "/live", "--service", "kukulkan",
                     "--environment", environment, "--burst", "0", "--json")
    if result.returncode != 0:
        return f"liveobs probe     failed: {result.stderr.strip()}"
    steps = json.loads(result.stdout).get("steps", [])
    return "liveobs probe    " + "; ".join(f"{step['step']} {step['summary']}" for step in steps)


def drive_credentials() -> dict[str, str]:
    """The scenario's credentials, as an operator supplies them: the demo accounts' passwords."""
    return {f"KUKULKAN_DRIVE_{name.upper()}_PASSWORD": password for name, password, _ in DEMO_ACCOUNTS}


def drive_lines(db: Path, base_url: str, environment: str, *, browser: bool, sessions: int | None = None) -> list[str]:
    """``liveobs drive`` with Kukulkan's scenario: the evidence a quiet window lacks, recorded as driven."""
    argv = [_bin("liveobs"), "--db", str(db), "drive", base_url, "--scenario", str(DRIVE_SCENARIO),
            "--service", "kukulkan", "--environment", environment, "--json", *(["--browser"] if browser else []),
            *(["--sessions", str(sessions)] if sessions is not None else [])]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=90, cwd=REPO, check=False,
                            env={**os.environ, **drive_credentials()})
    if result.returncode not in (0, 1):
        raise DemoError(f"liveobs drive failed (exit {result.returncode}): {result.stderr.strip()}")
    data = json.loads(result.stdout)
    uploads = data["uploads"]
    clean = [u for u in uploads if not u["canary"]]
    canary = next((u for u in uploads if u["canary"]), None)
    denied = sum(a["outcome"] == "denied" for a in data["attempts"])
    sockets = {s["attempt"]: s["status"] for s in data["sockets"]}
    lines = [
        f"liveobs drive    {data['sessions']} sessions, {data['connects']} live connects "
        f"({data['reconnects']} reconnect), {data['page_loads']} page loads, {data['actions']} live actions",
        f"                 uploads {len(clean)} clean → {'/'.join(sorted({str(u['status']) for u in clean}))}"
        + (f", EICAR canary → {canary['status']}" if canary else "")
        + f"; {denied} of {len(data['attempts'])} scope and capability attempts denied"
        + (f"; signed-in socket: foreign origin → {sockets.get('ws_origin')}, foreign host → "
           f"{sockets.get('ws_host')}" if sockets else "")
        + (f"; {data['rate_limit']['limited']} of {data['rate_limit']['count']} guesses → 429"
           if data["rate_limit"] else ""),
    ]
    if data["browser"]:
        timing = data["browser"]["timing_ms"]
        lines.append(f"                 headless Chromium: {data['browser']['loads']} page loads, first byte "
                     f"p50 {timing['ttfb']['p50']:g} ms, load p50 {timing['load']['p50']:g} ms")
    lines += [f"                 UNEXPECTED: {line}" for line in data["unexpected"]]
    return lines


def _clean_store(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".collector.json")):
        path.unlink(missing_ok=True)


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def run(state: Path = DEFAULT_STATE, *, refreshes: int = 30, weaken: str = "", out: IO[str] = sys.stdout) -> int:
    started = time.monotonic()
    state.mkdir(parents=True, exist_ok=True)
    db = state / "liveobs.duckdb"
    manifest = load_manifest(MANIFEST_PATH)
    _clean_store(db)

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    with processes() as procs:
        collector, collector_url = start_collector(procs, db, state)
        say(f"liveobs collect  {collector_url}  store {_shown(db)}")
        keys = new_session_keys()
        app, base_url = start_app(procs, collector_url, state, manifest.rollback, keys)
        baseline = asyncio.run(run_baseline(base_url, refreshes=refreshes))
        driven = drive_lines(db, base_url, manifest.environment, browser=False)
        procs.stop(app)
        say(f"kukulkan {manifest.rollback:<7} {base_url}  the rollback target: "
            f"{len(baseline.outcomes)} live events ({sum(o.ok for o in baseline.outcomes)} ok)")
        for line in driven:
            say(line)
        app, base_url = start_app(procs, collector_url, state, manifest.current, keys, weaken)
        if weaken:
            say(f"kukulkan {manifest.current:<7} deliberately weakened: KUKULKAN_WEAKEN={weaken}")
        say(probe_line(db, base_url, manifest.environment))
        report = asyncio.run(run_session(base_url, refreshes=refreshes))
        ok = sum(o.ok for o in report.outcomes)
        say(f"kukulkan {manifest.current:<7} {base_url}  the new release: {len(report.outcomes)} live events "
            f"({ok} ok), uploads " + ", ".join(f"{name} → {status}" for name, status in report.uploads.items()))
        say("refused          " + ", ".join(
            f"{what} → {'/'.join(str(c) for c in sorted(set(codes)))}" for what, codes in report.refused.items()))
        for line in drive_lines(db, base_url, manifest.environment, browser=CHROMIUM.exists()):
            say(line)
        failure = report.failure
        say(f"failing click    {failure.name}: the page shows "
            f"\"Something went wrong — reference {failure.event_id}\"")
        procs.stop(app)  # a graceful stop flushes the app's last spans and logs to the collector
        say()
        say(f"$ liveobs trace --event-id {failure.event_id}")
        trace = liveobs(db, "trace", "--event-id", failure.event_id)
        say(trace.stdout.rstrip() or trace.stderr.rstrip())
        say()
        say(f"in a browser     {collector_url}/incidents  (while the collector runs; afterwards: "
            f"liveobs --db {_shown(db)} ui)")
        say()
        say("$ liveobs check <gate>   (release " + manifest.current + ")")
        for line in gate_lines(db, MANIFEST_PATH):
            say(line)
        procs.stop(collector)
    say()
    say(f"demo finished in {time.monotonic() - started:.1f} s; everything it started is stopped; "
        f"the evidence stays in {_shown(db)}")
    return 0 if trace.returncode == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="where the store and logs go")
    parser.add_argument("--refreshes", type=int, default=30, help="ordinary events for the latency figures")
    parser.add_argument("--weaken", default="", metavar="csp,sockets,scanner",
                        help="serve the new release with these guards weakened, to see the gates catch it")
    args = parser.parse_args(argv)
    try:
        return run(args.state, refreshes=args.refreshes, weaken=args.weaken)
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted; everything it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
