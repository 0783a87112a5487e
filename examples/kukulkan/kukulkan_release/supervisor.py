"""A small process supervisor for Kukulkan's unit files, where systemd is absent.

It reads the ``[Service]`` section of a systemd unit file and runs it the way
systemd would for the keys it knows: ``ExecStart`` (split like a command line,
run directly, never through a shell), ``Environment=`` and ``EnvironmentFile=``
(the process gets only these and ``PATH``, not the caller's environment),
``WorkingDirectory=``, ``Restart=on-failure`` with ``RestartSec=``, and
``TimeoutStopSec=`` (SIGTERM, then SIGKILL). Any other key is an error, so a
unit never means more than what runs.

    python -m kukulkan_release.supervisor UNIT_FILE...   # run until SIGTERM or Ctrl+C
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

KNOWN: Final = {
    "Unit": {"Description", "After", "Wants", "Requires"},
    "Service": {"Type", "ExecStart", "Environment", "EnvironmentFile", "WorkingDirectory", "Restart", "RestartSec",
                "TimeoutStopSec"},
    "Install": {"WantedBy"},
}
MAX_RESTARTS: Final = 5  # within one start: a unit that keeps failing is left stopped


class UnitError(ValueError):
    """A unit file this supervisor cannot run as written."""


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    path: Path
    argv: tuple[str, ...]
    environment: Mapping[str, str]
    working_directory: Path | None = None
    restart_on_failure: bool = False
    restart_sec: float = 0.1
    stop_timeout: float = 90.0


def _seconds(value: str, key: str, path: Path) -> float:
    try:
        return float(value.removesuffix("s"))
    except ValueError:
        raise UnitError(f"{path}: {key}={value} is not a number of seconds") from None


def _environment_file(path: Path, unit: Path) -> dict[str, str]:
    optional = str(path).startswith("-")
    path = Path(str(path).lstrip("-"))
    try:
        text = path.read_text()
    except OSError as exc:
        if optional:
            return {}
        raise UnitError(f"{unit}: EnvironmentFile {path}: {exc.strerror}") from None
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UnitError(f"{unit}: EnvironmentFile {path}: {line.split()[0]!r} is not KEY=value")
        out[key.strip()] = value.strip().strip('"')
    return out


def parse_unit(path: Path) -> Unit:
    """The unit file's service, validated; its name is the file name without ``.service``."""
    section = None
    argv: list[str] = []
    env: dict[str, str] = {}
    settings: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            if section not in KNOWN:
                raise UnitError(f"{path}:{number}: unknown section [{section}]")
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if section is None or not sep:
            raise UnitError(f"{path}:{number}: expected Key=value inside a section")
        if key not in KNOWN[section]:
            raise UnitError(f"{path}:{number}: {key}= is not supported here")
        if section != "Service":
            continue
        if key == "ExecStart":
            if argv:
                raise UnitError(f"{path}:{number}: one ExecStart only")
            argv = shlex.split(value)
        elif key == "Environment":
            for assignment in shlex.split(value):
                name, eq, val = assignment.partition("=")
                if not eq:
                    raise UnitError(f"{path}:{number}: Environment {assignment!r} is not NAME=value")
                env[name] = val
        elif key == "EnvironmentFile":
            env.update(_environment_file(Path(value), path))
        else:
            settings[key] = value
    if not argv:
        raise UnitError(f"{path}: no ExecStart")
    if not Path(argv[0]).is_absolute():
        raise UnitError(f"{path}: ExecStart must name its program by absolute path, not {argv[0]!r}")
    restart = settings.get("Restart", "no")
    if restart not in ("no", "on-failure"):
        raise UnitError(f"{path}: Restart={restart} is not supported (no, on-failure)")
    return Unit(
        name=path.name.removesuffix(".service"), path=path, argv=tuple(argv), environment=env,
        working_directory=Path(settings["WorkingDirectory"]) if "WorkingDirectory" in settings else None,
        restart_on_failure=restart == "on-failure",
        restart_sec=_seconds(settings.get("RestartSec", "0.1"), "RestartSec", path),
        stop_timeout=_seconds(settings.get("TimeoutStopSec", "90"), "TimeoutStopSec", path),
    )


@dataclass
class _Running:
    unit: Unit
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    stopping: bool = False
    restarts: int = 0
    watcher: threading.Thread | None = None
    history: list[int] = field(default_factory=list)  # exit codes of earlier runs


def _stopping(running: _Running) -> bool:
    return running.stopping


class Supervisor:
    """Start, restart and stop units; a unit that exits with failure is restarted (``Restart=on-failure``)."""

    def __init__(self, logs: Path, overrides: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.logs = logs
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._overrides = overrides or {}

    def _spawn(self, unit: Unit, log: IO[bytes]) -> subprocess.Popen[bytes]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **unit.environment,
               **self._overrides.get(unit.name, {})}
        log.write(f"-- {time.strftime('%H:%M:%S')} starting {shlex.join(unit.argv)}\n".encode())
        log.flush()
        return subprocess.Popen(list(unit.argv), env=env, cwd=unit.working_directory, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, unit: Unit) -> subprocess.Popen[bytes]:
        with self._lock:
            if unit.name in self._running:
                raise UnitError(f"{unit.name} is already running")
            self.logs.mkdir(parents=True, exist_ok=True)
            log = (self.logs / f"{unit.name}.log").open("ab")
            running = _Running(unit, self._spawn(unit, log), log)
            self._running[unit.name] = running
        running.watcher = threading.Thread(target=self._watch, args=(running,), daemon=True,
                                           name=f"supervise {unit.name}")
        running.watcher.start()
        return running.process

    def _watch(self, running: _Running) -> None:
        while True:
            code = running.process.wait()
            with self._lock:
                if running.stopping or not running.unit.restart_on_failure or code == 0:
                    return
                if running.restarts >= MAX_RESTARTS:
                    running.log.write(f"-- exited with {code}; {MAX_RESTARTS} restarts: left stopped\n".encode())
                    return
            time.sleep(running.unit.restart_sec)
            with self._lock:
                if _stopping(running):  # stop() may have run while we slept
                    return
                running.history.append(code)
                running.restarts += 1
                running.log.write(f"-- exited with {code}; restart {running.restarts}\n".encode())
                running.process = self._spawn(running.unit, running.log)

    def process(self, name: str) -> subprocess.Popen[bytes] | None:
        running = self._running.get(name)
        return running.process if running else None

    def restarts(self, name: str) -> int:
        running = self._running.get(name)
        return running.restarts if running else 0

    def stop(self, name: str) -> int | None:
        """SIGTERM, then SIGKILL after the unit's stop timeout; the exit code (``None`` if it was not running)."""
        with self._lock:
            running = self._running.pop(name, None)
            if running is None:
                return None
            running.stopping = True
        proc = running.process
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(running.unit.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                running.log.write(f"-- did not stop within {running.unit.stop_timeout:g} s of SIGTERM: killed\n".encode())
        if running.watcher is not None:
            running.watcher.join(5)
        running.log.close()
        return proc.returncode

    def restart(self, unit: Unit) -> subprocess.Popen[bytes]:
        self.stop(unit.name)
        return self.start(unit)

    def stop_all(self) -> None:
        for name in reversed(list(self._running)):
            self.stop(name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run systemd-style unit files until SIGTERM or Ctrl+C.")
    parser.add_argument("units", nargs="+", type=Path)
    parser.add_argument("--logs", type=Path, default=Path("."), help="where <unit>.log files go")
    args = parser.parse_args(argv)
    try:
        units = [parse_unit(p) for p in args.units]
    except (OSError, UnitError) as exc:
        print(f"supervisor: {exc}", file=sys.stderr)
        return 2
    supervisor = Supervisor(args.logs)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        for unit in units:
            supervisor.start(unit)
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
