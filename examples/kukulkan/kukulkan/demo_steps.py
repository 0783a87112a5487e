"""The steps of ``make demo`` that run liveobs (record, dry-run, probe, drive, check) and the lines they print.

Every ``liveobs`` command runs as the operator would run it, from the repository,
against the demo's store; each function returns the lines the demo prints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from kukulkan_release.deploy import Deployment, LaidOut

from kukulkan.accounts import DEMO_ACCOUNTS

REPO: Final = Path(__file__).resolve().parents[3]
EXAMPLE: Final = Path(__file__).resolve().parents[1]
GATES: Final = ("observability", "security", "performance", "deploy")
DRIVE_SCENARIO: Final = EXAMPLE / "drive.toml"
LOAD_SCENARIO: Final = EXAMPLE / "drive-load.toml"
BUDGETS: Final = EXAMPLE / "demo-budgets.toml"  # a release life compressed into seconds
SERVICE: Final = "kukulkan"
ENVIRONMENT: Final = "production"


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which."""


def tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def liveobs(db: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    # Longer than a read through the collector may take (READ_TIMEOUT_S: it commits its backlog first).
    return subprocess.run([tool("liveobs"), "--db", str(db), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, check=False)


def gate_lines(db: Path, manifest: Path, gates: Sequence[str] = GATES) -> list[str]:
    """One line per gate (its status, exit code and count of checks per status), then why a check failed or is unknown.

    One ``liveobs check`` run judges every check of ``gates`` (``all`` for the four);
    each gate's status and exit code are those ``liveobs check <gate>`` gives, by the
    same rule (:class:`GateReport`).
    """
    from dataclasses import fields

    from liveobs.correlator.gates import CheckResult, GateReport

    selection = "all" if set(gates) == set(GATES) else ",".join(f"{gate}.*" for gate in gates)
    result = liveobs(db, "check", selection, "--manifest", str(manifest), "--budgets", str(BUDGETS), "--format", "json")
    try:
        doc = json.loads(result.stdout)
        known = {f.name for f in fields(CheckResult)}  # the JSON also carries each check's bounds and unit
        doc["checks"] = [{k: v for k, v in c.items() if k in known} for c in doc["checks"]]
        report = GateReport.from_dict(doc)
    except (ValueError, KeyError, TypeError):
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"  gates could not run (exit {result.returncode}): {reason}"]
    lines = []
    for gate in gates:
        results = tuple(r for r in report.results if r.gate == gate)
        judged = GateReport(report.subject, results)
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
        detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        open_checks = [r.id.split(".", 1)[-1] for r in results if r.status.value in ("fail", "unknown")]
        shown = f"; not pass: {', '.join(open_checks)}" if open_checks else ""
        lines.append(f"  {gate:<14} {judged.status.value:<8} exit {int(judged.exit_code)}  ({detail}{shown})")
        lines += [f"      {r.id}: {r.reason}" for r in results if r.status.value in ("fail", "unknown")]
    return lines


def undecided_checks(db: Path, manifest: Path, gate: str = "performance") -> list[str]:
    """The checks of ``gate`` that are unknown on the evidence so far (for regression checks: short of samples)."""
    result = liveobs(db, "check", f"{gate}.*", "--manifest", str(manifest), "--budgets", str(BUDGETS),
                     "--format", "json")
    try:
        checks = json.loads(result.stdout)["checks"]
        return [str(c["id"]).split(".", 1)[-1] for c in checks if c["status"] == "unknown"]
    except (ValueError, KeyError, TypeError) as exc:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DemoError(f"liveobs check {gate} could not run (exit {result.returncode}): {reason}") from exc


def probe_line(db: Path, base_url: str, environment: str) -> str:
    """Probe the running release (page, asset, readiness, socket guards, body limit) into the store.

    The burst step is skipped: Kukulkan limits sign-in, uploads and live events, not
    page views, and the scripted session's password guessing shows the limit acting.
    """
    result = liveobs(db, "probe", base_url + "/signin", "--ws-path", "/live", "--service", SERVICE,
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
    argv = [tool("liveobs"), "--db", str(db), "drive", base_url, "--scenario", str(scenario),
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
        "liveobs drive    " + (load_line(data) if data["sessions"] else "drive.toml --sessions 0 (the load slices bring the load)"),
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
    command = "$ liveobs release " + " ".join(args)
    result = liveobs(db, "release", *args, timeout=timeout)
    if result.returncode == 2 and "No such command" in result.stderr:
        return [command, "  (this liveobs has no `release` command: the step is skipped)"]
    out = (result.stdout.rstrip() or result.stderr.rstrip()).splitlines()
    lines = [command, *("  " + line for line in out)]
    if result.returncode != 0:
        lines.append(f"  exit {result.returncode}")
    return lines


def changed_lines(db: Path, release: str, manifest: Path) -> list[str]:
    """``liveobs check changed``: the surface ``release`` changed against its rollback target, the gates it selects."""
    args = ("check", "changed", "--service", SERVICE, "--release", release, "--manifest", str(manifest),
            "--budgets", str(BUDGETS))
    result = liveobs(db, *args)
    out = (result.stdout.rstrip() or result.stderr.rstrip()).splitlines()
    return [f"$ liveobs check changed --service {SERVICE} --release {release}", *("  " + line for line in out),
            f"  exit {result.returncode}"]


def releases_line(laid: list[LaidOut], root: Path) -> str:
    parts = [f"{r.version} {r.wheel.name} sha256:{r.digest[:12]}… "
             f"({'built' if r.seconds > 0.5 else 'cached'})" for r in laid]
    return f"releases         {shown(root)}: " + "; ".join(parts)


def units_line(deployment: Deployment, version: str, pids: dict[str, int], verb: str) -> str:
    units = ", ".join(f"{name} pid {pid} {deployment.url(name)}" for name, pid in pids.items())
    return f"{verb:<16} current → releases/{version}; {units}: /readyz and /live/readiness.json answer {version}"
