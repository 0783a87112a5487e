"""A dry run: start each unit of a release from its own release directory on a side port, probe, stop.

Each unit runs its unit file's command with ``<root>/current`` replaced by
``releases/<version>``, its ``port_env`` set to a free port on 127.0.0.1, its name in
``LIVEOBS_UNIT`` (unless the unit file sets it) and ``LIVEOBS_RELEASE_REPORT`` naming a
file where the SDK writes the release it found (digest, directory, source). Every
readiness path is then asked until it answers 200 or the deadline passes; each
answer (HTTP status, the health body's status and version, the digest the process
reported) is one :class:`Probe`. The processes are stopped whatever happens
(SIGTERM to the process group, SIGKILL after a grace period), so none is left behind.

A persistence dry run (:func:`persistence_dry_run`) copies the rollback target's
SQLite data (the path the units find in the manifest's ``data_env``) to a scratch
directory, applies the migrations the judged release ships and its rollback target
does not, in order, each in one script, then starts the rollback target's units on
the copy and probes them. The original file is only read; a migration that fails is a
probe with its error, and the units are not started on a half-migrated copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from liveobs.conventions import keys
from liveobs.correlator.releases._layout import Release, UnitFact
from liveobs.correlator.releases._manifest import ReleaseError
from liveobs.correlator.releases._record import Probe

_INHERITED: Final = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
HOST: Final = "127.0.0.1"
DEFAULT_TIMEOUT: Final = 30.0
_GRACE: Final = 5.0
_POLL: Final = 0.1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class _Started:
    fact: UnitFact
    port: int
    report: Path
    process: subprocess.Popen[bytes]
    log: Path


def dry_run(release: Release, timeout: float = DEFAULT_TIMEOUT, extra_env: dict[str, str] | None = None,
            kind: str = "readiness") -> list[Probe]:
    """Start every unit of ``release`` on a side port, probe each readiness path, stop them; the probes.

    ``extra_env`` is added to each unit's environment (a persistence dry run points the
    data at a copy); ``kind`` labels the probes.
    """
    with tempfile.TemporaryDirectory(prefix="liveobs-dry-run-") as scratch, \
            _units(release, Path(scratch), extra_env or {}) as started:
        deadline = time.monotonic() + timeout
        probes: list[Probe] = []
        for s in started:
            probes += [_probe(s, path, deadline, kind) for path in s.fact.spec.readiness]
        return probes


@contextlib.contextmanager
def _units(release: Release, scratch: Path, extra_env: dict[str, str]) -> Iterator[list[_Started]]:
    started: list[_Started] = []
    try:
        for fact in release.units:
            started.append(_start(release, fact, scratch, extra_env))
        yield started
    finally:
        for s in started:
            stop(s.process)


def _start(release: Release, fact: UnitFact, scratch: Path, extra_env: dict[str, str]) -> _Started:
    argv, env, workdir = fact.unit.command(release.root, release.directory)
    port = free_port()
    report = scratch / f"{fact.spec.name}.release.json"
    log = scratch / f"{fact.spec.name}.log"
    # As systemd starts a unit: its own Environment= and little else, never the caller's environment
    # (a PYTHONPATH or virtualenv of the shell that runs the dry run would change what the unit imports).
    inherited = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    environment = {**inherited, **env, **extra_env, fact.spec.port_env: str(port),
                   keys.ENV_RELEASE_REPORT: str(report)}
    environment.setdefault(keys.ENV_UNIT, fact.spec.name)
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=environment, cwd=workdir if workdir and workdir.is_dir() else None,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return _Started(fact, port, report, process, log)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and its process group: SIGTERM, then SIGKILL after the grace period."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _probe(s: _Started, path: str, deadline: float, kind: str) -> Probe:
    url = f"http://{HOST}:{s.port}{path}"
    status: int | None = None
    body: Any = None
    failure = "never answered"
    # Marked as driven evidence: if the unit exports telemetry, its answers never count as production traffic.
    headers = {keys.HEADER_EVIDENCE_SOURCE: keys.EVIDENCE_DRIVEN}
    with httpx.Client(timeout=2.0, follow_redirects=False, headers=headers) as client:
        while True:
            if s.process.poll() is not None:
                failure = f"the unit exited with code {s.process.returncode}: {_tail(s.log)}"
                break
            try:
                response = client.get(url)
                status, body = response.status_code, _json(response)
                if status == 200 or time.monotonic() >= deadline:
                    break
            except httpx.HTTPError as exc:
                failure = f"never answered ({type(exc).__name__})"
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL)
    reported = _report(s.report)
    health = body.get("status") if isinstance(body, dict) else None
    version = body.get("version") or body.get("releaseId") if isinstance(body, dict) else None
    problem = _problem(status, failure, reported)
    return Probe(s.fact.spec.name, path, s.port, status, health if isinstance(health, str) else None,
                 str(version) if version else None, reported.get(keys.RELEASE_DIGEST),
                 reported.get(keys.RELEASE_SOURCE), reported.get(keys.RELEASE_DIR), problem, kind)


def _problem(status: int | None, failure: str, reported: dict[str, str]) -> str | None:
    if status is None:
        return failure
    if status != 200:
        return f"answered {status}"
    return None if reported else "the process reported no release (no liveobs.sdk.configure() at startup?)"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _report(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _tail(log: Path, limit: int = 300) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:].replace("\n", " | ")


# --- the persistence dry run -------------------------------------------------------

KIND: Final = "persistence"
MIGRATIONS_UNIT: Final = "migrations"


def new_migrations(release: Release, target: Release) -> list[str]:
    """The release's migrations that its rollback target does not ship, in order."""
    shipped = set(target.manifest.surface.migrations)
    return [m for m in release.manifest.surface.migrations if m not in shipped]


def persistence_dry_run(release: Release, target: Release, data: Path,
                        timeout: float = DEFAULT_TIMEOUT) -> list[Probe]:
    """Apply ``release``'s new migrations to a copy of ``data``; start ``target`` on the copy; the probes."""
    data_env = release.manifest.data_env or target.manifest.data_env
    if data_env is None:
        raise ReleaseError(f"release {release.version}: [release] data_env must name the variable that points the "
                           "units at their data for a persistence dry run")
    if not data.is_file():
        raise ReleaseError(f"data file {data} does not exist")
    with tempfile.TemporaryDirectory(prefix="liveobs-persistence-") as scratch:
        copy = Path(scratch) / data.name
        shutil.copy2(data, copy)
        probes: list[Probe] = []
        for path in new_migrations(release, target):
            problem = _apply(copy, release.directory / path)
            probes.append(Probe(MIGRATIONS_UNIT, path, None, None, None, release.version, None, None, None,
                                problem, KIND))
            if problem is not None:
                return probes
        return probes + dry_run(target, timeout, {data_env: str(copy)}, KIND)


def _apply(database: Path, script: Path) -> str | None:
    try:
        sql = script.read_text(encoding="utf-8")
    except OSError as exc:
        return f"cannot read {script}: {exc}"
    con = sqlite3.connect(database)
    try:
        con.executescript(f"BEGIN;\n{sql}\nCOMMIT;")
    except sqlite3.Error as exc:
        return f"failed on a copy of the data: {exc}"
    finally:
        con.close()
    return None
