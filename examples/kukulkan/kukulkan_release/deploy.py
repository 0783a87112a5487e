"""One Kukulkan deployment: its releases laid out, its units supervised, ``current`` re-pointed and restarted.

:func:`prepare` builds both releases' wheels and lays them out (cached by the
digest of their sources); :class:`Deployment` writes the unit files, starts the
units from ``current``, switches releases by re-pointing the link and restarting
the same units, and waits until every unit answers ``/readyz`` and
``/live/readiness.json`` for the release it should run.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kukulkan_release.build import Built, build, versions
from kukulkan_release.layout import (
    READINESS,
    UNITS,
    current_version,
    lay_out,
    point_current,
    sha256_file,
    write_session_keys,
    write_units,
)
from kukulkan_release.supervisor import Supervisor, Unit, parse_unit

READY_TIMEOUT = 30.0


class DeployError(RuntimeError):
    """A unit did not become ready for the release it should run; the message says which and why."""


@dataclass(frozen=True, slots=True)
class LaidOut:
    version: str
    directory: Path
    wheel: Path
    digest: str  # sha256 of the wheel
    seconds: float  # building and laying out took this long (near zero when cached)


def prepare(root: Path, work: Path) -> list[LaidOut]:
    """Every release built and laid out under ``root``, oldest first.

    Each rolls back to the one before it unless its source names another target (a
    fix of a release that was rolled back returns to the release before that one).
    """
    out = []
    previous: str | None = None
    for version in versions():
        started = time.monotonic()
        built: Built = build(version, work)
        directory = lay_out(root, built, built.declared_rollback() or previous)
        wheel = directory / "artifacts" / built.wheel.name
        out.append(LaidOut(version, directory, wheel, sha256_file(wheel), time.monotonic() - started))
        previous = version
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    root: Path
    environment: Mapping[str, Mapping[str, str]]  # by unit name
    session_keys: str
    ports: dict[str, int] = field(default_factory=lambda: {u.name: free_port() for u in UNITS})
    supervisor: Supervisor | None = None

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.root / "logs")
        self.write_units()

    def write_units(self, extra: Mapping[str, str] | None = None) -> None:
        keys = write_session_keys(self.root, self.session_keys)
        env = {name: {**values, "KUKULKAN_SESSION_KEYS_FILE": str(keys), **(extra or {})}
               for name, values in self.environment.items()}
        write_units(self.root, self.ports, env)

    def units(self) -> list[Unit]:
        return [parse_unit(self.root / "units" / f"{u.name}.service") for u in UNITS]

    def url(self, unit: str) -> str:
        return f"http://127.0.0.1:{self.ports[unit]}"

    @property
    def current(self) -> str | None:
        return current_version(self.root)

    def point(self, version: str) -> None:
        point_current(self.root, version)

    def start(self, version: str, extra: Mapping[str, str] | None = None) -> dict[str, int]:
        """Point ``current`` at ``version`` and start every unit (``extra``: more environment); pids once ready."""
        assert self.supervisor is not None
        if extra is not None:
            self.write_units(extra)
        point_current(self.root, version)
        for unit in self.units():
            self.supervisor.start(unit)
        return self.wait_ready(version)

    def switch(self, version: str, extra: Mapping[str, str] | None = None) -> dict[str, int]:
        """Re-point ``current`` and restart the same units; their new pids once ready for ``version``."""
        assert self.supervisor is not None
        for unit in self.units():
            self.supervisor.stop(unit.name)
        if extra is not None:
            self.write_units(extra)
        point_current(self.root, version)
        for unit in self.units():
            self.supervisor.start(unit)
        return self.wait_ready(version)

    def wait_ready(self, version: str, timeout: float = READY_TIMEOUT) -> dict[str, int]:
        assert self.supervisor is not None
        deadline = time.monotonic() + timeout
        pids = {}
        for unit in UNITS:
            while True:
                proc = self.supervisor.process(unit.name)
                problem = self._not_ready(unit.name, version)
                if problem is None and proc is not None:
                    pids[unit.name] = proc.pid
                    break
                if time.monotonic() > deadline:
                    raise DeployError(f"{unit.name} not ready for {version} within {timeout:.0f} s: {problem}; "
                                      f"see {self.root / 'logs' / (unit.name + '.log')}")
                time.sleep(0.1)
        return pids

    def _not_ready(self, unit: str, version: str) -> str | None:
        base = self.url(unit)
        try:
            for path in READINESS:
                response = httpx.get(base + path, timeout=2.0, follow_redirects=False)
                if response.status_code != 200:
                    return f"{path} answered {response.status_code}"
                if path.endswith(".json"):
                    reported = json.loads(response.text).get("version")
                    if reported != version:
                        return f"{path} reports version {reported}"
        except (httpx.HTTPError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop_all()
