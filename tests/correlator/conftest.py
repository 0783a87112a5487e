"""Shared fixtures for the correlator tests.

``collector`` starts a real ``liveobs collect`` subprocess on a free port of
127.0.0.1 over a fresh store in ``tmp_path`` and yields a :class:`RunningCollector`
(``url``, ``db``, ``process``, ``token``, ``stop()``, ``kill()``,
``peak_rss_kib()``, ``conversion_peak_rss_kib()``). ``collector_factory`` starts more, or restarts one on the
same store: ``collector_factory(db=path, token="t", extra_args=[...])``.
``module_collector`` is one collector shared by a test module (for property
tests, which cannot use function-scoped fixtures). Every
process started here is stopped (SIGTERM, then SIGKILL) when the test ends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.waiting import readable

_LISTENING = re.compile(r"listening on (http://\S+)")
START_TIMEOUT_S = 30.0


@dataclass
class RunningCollector:
    """A ``liveobs collect`` subprocess and how to reach it."""

    url: str
    db: Path
    process: subprocess.Popen[str]
    token: str | None = None
    output: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (a clean drain) and wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output.append(out or "")
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()

    def peak_rss_kib(self) -> int:
        """The process's peak resident set size (VmHWM), in KiB."""
        return _peak_kib(self.process.pid)

    def conversion_peak_rss_kib(self) -> int:
        """The peak resident set size of the collector's child processes (its conversion process), summed, in KiB."""
        pid = self.process.pid
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
        assert children, "the collector runs no conversion process"
        return sum(_peak_kib(child) for child in children)


def _peak_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+)", status)
    assert match is not None
    return int(match.group(1))


def start_collector(
    db: Path, *, token: str | None = None, extra_args: list[str] | None = None
) -> RunningCollector:
    """Start ``python -m liveobs.cli --db DB collect --port 0`` and wait until it listens."""
    env = dict(os.environ)
    env.pop("LIVEOBS_TOKEN_FILE", None)
    env.pop("LIVEOBS_TOKEN", None)
    if token is not None:
        env["LIVEOBS_TOKEN"] = token
    process = subprocess.Popen(
        [sys.executable, "-m", "liveobs.cli", "--db", str(db), "collect", "--port", "0", *(extra_args or [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready = readable(process.stdout, 0.2)
        if ready:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                return RunningCollector(match.group(1), db, process, token, seen)
        elif process.poll() is not None:
            break
    process.kill()
    rest, _ = process.communicate()
    raise RuntimeError(f"liveobs collect did not start: {''.join(seen)}{rest}")


@pytest.fixture
def collector_factory(tmp_path: Path) -> Iterator[Callable[..., RunningCollector]]:
    """Start collectors on demand; all are stopped at the end of the test."""
    started: list[RunningCollector] = []

    def factory(
        db: Path | None = None, *, token: str | None = None, extra_args: list[str] | None = None
    ) -> RunningCollector:
        running = start_collector(db or tmp_path / "store.duckdb", token=token, extra_args=extra_args)
        started.append(running)
        return running

    yield factory
    for running in started:
        if running.process.poll() is None:
            running.stop(timeout=30)


@pytest.fixture
def collector(collector_factory: Callable[..., RunningCollector]) -> RunningCollector:
    """A running ``liveobs collect`` over ``tmp_path / "store.duckdb"``."""
    return collector_factory()


@pytest.fixture(scope="module")
def module_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """One running collector for a whole test module, stopped at its end."""
    running = start_collector(tmp_path_factory.mktemp("collector") / "store.duckdb")
    yield running
    if running.process.poll() is None:
        running.stop(timeout=30)
