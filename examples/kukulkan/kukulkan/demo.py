"""``make demo``: Kukulkan deployed as an operator would, a user session with a failing click, and the answer.

Builds the wheels of Kukulkan 1.3.2 and 1.4.0 from source and lays them out as
release directories (cached by the digest of their sources), starts
``liveobs collect``, starts the API and UI units of 1.3.2 from the ``current`` link
under a small supervisor, records the releases, dry-runs 1.4.0, re-points the link
and restarts the same units, drives a scripted session with a failing click and
``liveobs drive`` (the performance evidence in alternating slices of both releases,
so both see the same machine load), prints ``liveobs trace --event-id <reference>``,
the changed surface and one line per gate, and rolls back to 1.3.2 by re-pointing the
link and restarting the same units. ``--weaken`` serves the new release with guards
deliberately weakened. Everything it starts is stopped on the way out, also on
failure or Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Final

from kukulkan_release.build import BuildError
from kukulkan_release.deploy import DeployError, Deployment, LaidOut, prepare

from kukulkan.accounts import DEMO_ACCOUNTS
from kukulkan.scenario import run_baseline, run_session, warm_up

REPO: Final = Path(__file__).resolve().parents[3]
EXAMPLE: Final = Path(__file__).resolve().parents[1]
DEFAULT_STATE: Final = REPO / "var" / "kukulkan"
GATES: Final = ("observability", "security", "performance", "deploy")
DRIVE_SCENARIO: Final = EXAMPLE / "drive.toml"
LOAD_SCENARIO: Final = EXAMPLE / "drive-load.toml"
MANIFEST_PATH: Final = EXAMPLE / "release-manifest.toml"
SERVICE: Final = "kukulkan"
ENVIRONMENT: Final = "production"
SLICES: Final = 3  # load slices per release, alternating between the releases
SLICE_SESSIONS: Final = 40  # sessions per slice, 45 live events each
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
        self._cleanups: list[Callable[[], None]] = []

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        """Also run ``cleanup`` when everything stops (before the processes started here, in reverse order)."""
        self._cleanups.append(cleanup)

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
        while self._cleanups:
            self._cleanups.pop()()
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


def new_session_keys() -> str:
    """``KUKULKAN_SESSION_KEYS`` for one demo run: both releases share it, as a deploy would."""
    return "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def unit_environment(collector_url: str) -> dict[str, dict[str, str]]:
    """What each unit's file sets beside its port and name: where telemetry goes, how often metrics export.

    Metrics export as deltas, so counts over exports add up. The UI unit serves the
    traffic: its metrics export every 100 ms (a release lives seconds here, so CPU
    and memory get many samples). The API unit is quiet: every second, so its
    process is measured over whole seconds (its CPU clock ticks in 10 ms) without
    filling the CPU samples with idle ones.
    """
    common = {"KUKULKAN_OTLP_ENDPOINT": collector_url, "KUKULKAN_ENVIRONMENT": "production",
              "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"}
    return {"kukulkan-api": {**common, "OTEL_METRIC_EXPORT_INTERVAL": "1000"},
            "kukulkan-ui": {**common, "OTEL_METRIC_EXPORT_INTERVAL": "100"}}


def start_deployed(procs: Processes, collector_url: str, state: Path,
                   version: str | None = None) -> tuple[Deployment, str]:
    """Kukulkan laid out under ``state`` and its units started at ``version`` (default: the newest).

    The units stop with ``procs``; ``Deployment.stop()`` stops them sooner (flushing their telemetry).
    Returns the deployment and the UI unit's URL.
    """
    laid = prepare(state / "deploy", state / "build")
    deployment = Deployment(state / "deploy", unit_environment(collector_url), new_session_keys())
    procs.on_stop(deployment.stop)
    deployment.start(version or laid[-1].version)
    return deployment, deployment.url("kukulkan-ui")


def liveobs(db: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    # Longer than a read through the collector may take (READ_TIMEOUT_S: it commits its backlog first).
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


def drive(db: Path, base_url: str, scenario: Path, *, browser: bool = False,
          sessions: int | None = None) -> dict[str, Any]:
    """``liveobs drive`` with one of Kukulkan's scenarios: evidence a quiet window lacks, recorded as driven."""
    argv = [_bin("liveobs"), "--db", str(db), "drive", base_url, "--scenario", str(scenario),
            "--service", SERVICE, "--environment", ENVIRONMENT, "--json", *(["--browser"] if browser else []),
            *(["--sessions", str(sessions)] if sessions is not None else [])]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=90, cwd=REPO, check=False,
                            env={**os.environ, **drive_credentials()})
    if result.returncode not in (0, 1):
        raise DemoError(f"liveobs drive failed (exit {result.returncode}): {result.stderr.strip()}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def load_slice(base_url: str, sessions: int) -> dict[str, Any]:
    """One slice of the load-only scenario, driven from this process (no start-up gap between slices).

    The evidence is the app's own telemetry (the driver marks its traffic as driven);
    the outside observations ``liveobs drive`` records are the full drive's.
    """
    from liveobs.cli._driver import load_scenario, run_driver

    scenario = load_scenario(LOAD_SCENARIO, {**os.environ, **drive_credentials()})
    load = dataclasses.replace(scenario.load, sessions=sessions, reconnects=min(scenario.load.reconnects, sessions))
    report = run_driver(base_url, dataclasses.replace(scenario, load=load))
    if report.unexpected:
        raise DemoError(f"the load slice saw what a correct app does not do: {'; '.join(report.unexpected)}")
    data: dict[str, Any] = report.to_dict()
    return data


def load_line(data: dict[str, Any]) -> str:
    return (f"{data['sessions']} sessions, {data['connects']} live connects ({data['reconnects']} reconnect), "
            f"{data['page_loads']} page loads, {data['actions']} live actions")


def drive_lines(data: dict[str, Any]) -> list[str]:
    """What a full drive did: its load, uploads, attempts, socket checks, guesses and browser pass."""
    uploads = data["uploads"]
    clean = [u for u in uploads if not u["canary"]]
    canary = next((u for u in uploads if u["canary"]), None)
    denied = sum(a["outcome"] == "denied" for a in data["attempts"])
    sockets = {s["attempt"]: s["status"] for s in data["sockets"]}
    lines = [
        "liveobs drive    " + load_line(data),
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


def release_lines(db: Path, *args: str, timeout: float = 180.0) -> list[str]:
    """``liveobs release ...`` (record, dry-run, rollback), its output indented; says so when it is missing."""
    shown = "$ liveobs release " + " ".join(args)
    result = liveobs(db, "release", *args, timeout=timeout)
    if result.returncode == 2 and "No such command" in result.stderr:
        return [shown, "  (this liveobs has no `release` command: the step is skipped)"]
    out = (result.stdout.rstrip() or result.stderr.rstrip()).splitlines()
    lines = [shown, *("  " + line for line in out)]
    if result.returncode != 0:
        lines.append(f"  exit {result.returncode}")
    return lines


def changed_lines(db: Path, release: str) -> list[str]:
    """``liveobs check changed``: the surface ``release`` changed against its rollback target, the gates it selects."""
    args = ("check", "changed", "--service", SERVICE, "--release", release, "--manifest", str(MANIFEST_PATH),
            "--budgets", str(EXAMPLE / "demo-budgets.toml"))
    result = liveobs(db, *args)
    out = (result.stdout.rstrip() or result.stderr.rstrip()).splitlines()
    return [f"$ liveobs check changed --service {SERVICE} --release {release}", *("  " + line for line in out),
            f"  exit {result.returncode}"]


def releases_line(laid: list[LaidOut], root: Path) -> str:
    parts = [f"{r.version} {r.wheel.name} sha256:{r.digest[:12]}… "
             f"({'built' if r.seconds > 0.5 else 'cached'})" for r in laid]
    return f"releases         {_shown(root)}: " + "; ".join(parts)


def units_line(deployment: Deployment, version: str, pids: dict[str, int], verb: str) -> str:
    units = ", ".join(f"{name} pid {pid} {deployment.url(name)}" for name, pid in pids.items())
    return f"{verb:<16} current → releases/{version}; {units}: /readyz and /live/readiness.json answer {version}"


def _clean_store(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".collector.json")):
        path.unlink(missing_ok=True)


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def run(state: Path = DEFAULT_STATE, *, refreshes: int = 30, weaken: str = "", out: IO[str] = sys.stdout) -> int:
    started = time.monotonic()
    state.mkdir(parents=True, exist_ok=True)
    db = state / "liveobs.duckdb"
    root = state / "deploy"
    _clean_store(db)

    def say(*lines: str) -> None:
        for line in lines or ("",):
            print(line, file=out, flush=True)

    laid = prepare(root, state / "build")
    where = str(_shown(root))  # the commands run in the repository: the deploy root as the reader knows it
    baseline_version, new_version = laid[0].version, laid[-1].version
    say(releases_line(laid, root))
    with processes() as procs:
        collector, collector_url = start_collector(procs, db, state)
        say(f"liveobs collect  {collector_url}  store {_shown(db)}")
        deployment = Deployment(root, unit_environment(collector_url), new_session_keys())
        try:
            ui = deployment.url("kukulkan-ui")
            deployment.point(baseline_version)
            for version in (baseline_version, new_version):
                say(*release_lines(db, "record", where, "--version", version))
            say(units_line(deployment, baseline_version, deployment.start(baseline_version), "units started"))
            asyncio.run(warm_up(ui))
            baseline = asyncio.run(run_baseline(ui, refreshes=refreshes))
            say(f"kukulkan {baseline_version:<7} {ui}  the rollback target: {len(baseline.outcomes)} live events "
                f"({sum(o.ok for o in baseline.outcomes)} ok)")
            say(f"driven slice     {baseline_version} 1: " + load_line(load_slice(ui, SLICE_SESSIONS)))
            say(*release_lines(db, "dry-run", where, "--version", new_version))
            extra = {"KUKULKAN_WEAKEN": weaken} if weaken else {}
            say(units_line(deployment, new_version, deployment.switch(new_version, extra), "deployed"))
            asyncio.run(warm_up(ui))
            if weaken:
                say(f"kukulkan {new_version:<7} deliberately weakened: KUKULKAN_WEAKEN={weaken}")
            say(probe_line(db, ui, ENVIRONMENT))
            report = asyncio.run(run_session(ui, refreshes=refreshes))
            ok = sum(o.ok for o in report.outcomes)
            say(f"kukulkan {new_version:<7} {ui}  the new release: {len(report.outcomes)} live events "
                f"({ok} ok), uploads " + ", ".join(f"{name} → {status}" for name, status in report.uploads.items()))
            say("refused          " + ", ".join(
                f"{what} → {'/'.join(str(c) for c in sorted(set(codes)))}" for what, codes in report.refused.items()))
            say(*drive_lines(drive(db, ui, DRIVE_SCENARIO, browser=CHROMIUM.exists(), sessions=8)))
            say(f"driven slice     {new_version} 1: " + load_line(load_slice(ui, SLICE_SESSIONS)))
            # More slices, alternating: both releases measured under the same machine load. Each switch
            # re-points `current` and restarts the same units.
            for n in range(2, SLICES + 1):
                for version, env in ((baseline_version, {}), (new_version, extra)):
                    deployment.switch(version, env)
                    asyncio.run(warm_up(ui))
                    say(f"driven slice     {version} {n}: " + load_line(load_slice(ui, SLICE_SESSIONS))
                        + "  (current re-pointed, units restarted)")
            failure = report.failure
            say(f"failing click    {failure.name}: the page shows "
                f"\"Something went wrong — reference {failure.event_id}\"")
            # The rollback: the link back to 1.3.2, the same units restarted (they flush their telemetry first).
            say(*release_lines(db, "rollback", where))
            say(units_line(deployment, baseline_version, deployment.switch(baseline_version, {}), "rolled back"))
        finally:
            deployment.stop()  # a graceful stop flushes the units' last spans, logs and metrics
        say()
        say(f"$ liveobs trace --event-id {failure.event_id}")
        trace = liveobs(db, "trace", "--event-id", failure.event_id)
        say(trace.stdout.rstrip() or trace.stderr.rstrip())
        say()
        say(f"in a browser     {collector_url}/incidents  (while the collector runs; afterwards: "
            f"liveobs --db {_shown(db)} ui)")
        say()
        # The runbook: after an incident that touches security (the failing click's trace carries scope
        # decisions), the security gate runs before a redeploy; the deploy gate reads its recorded run.
        security = liveobs(db, "check", "security", "--manifest", str(MANIFEST_PATH), "--budgets",
                           str(EXAMPLE / "demo-budgets.toml"), "--format", "json")
        say(f"$ liveobs check security   (first: the failing click's trace carries security decisions) → "
            f"exit {security.returncode}")
        say()
        say(*changed_lines(db, new_version))
        say()
        say(f"$ liveobs check <gate>   (release {new_version})")
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
    except (DemoError, DeployError, BuildError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted; everything it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
