"""A real ``liveobs collect`` and a real uvicorn app process for the process-life and framework tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import websockets

from liveobs.conventions import uuid7

LIVEOBS = str(Path(sys.executable).parent / "liveobs")
APPS = Path(__file__).parent / "apps"


@dataclass
class Collector:
    db: Path
    url: str
    proc: subprocess.Popen[bytes]

    def liveobs(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI against this store (through the running collector)."""
        return subprocess.run([LIVEOBS, "--db", str(self.db), *args], capture_output=True, text=True, timeout=60,
                              check=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Query the store once the collector has stopped (it holds the file while it runs)."""
        self.stop()
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


@contextmanager
def collector(tmp: Path) -> Iterator[Collector]:
    db = tmp / "store.duckdb"
    discovery = db.with_name(db.name + ".collector.json")
    log = open(tmp / "collector.log", "wb")  # noqa: SIM115  # closed below
    proc = subprocess.Popen([LIVEOBS, "--db", str(db), "collect", "--port", "0"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("liveobs collect did not start: " + (tmp / "collector.log").read_text())
            try:
                data = json.loads(discovery.read_text())
                url = data["url"] if data.get("pid") == proc.pid else None
            except (OSError, ValueError):
                time.sleep(0.05)
        yield Collector(db, str(url), proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


@dataclass
class App:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"


@contextmanager
def app_process(tmp: Path, endpoint: str, *, instrument: bool = False, gunicorn_workers: int = 0,
                **env: str) -> Iterator[App]:
    """``tests/sdk/apps/burst_app.py`` under uvicorn on a socket bound here, exporting to ``endpoint``.

    ``instrument`` runs it under ``opentelemetry-instrument`` (auto-instrumentation);
    ``gunicorn_workers`` under gunicorn ``--preload`` with that many uvicorn workers instead.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    log_path = tmp / f"app-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115  # closed below
    environ = {**os.environ, "LIVEOBS_TEST_ENDPOINT": endpoint, **env,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(APPS), os.environ.get("PYTHONPATH")]))}
    prefix = [str(Path(sys.executable).parent / "opentelemetry-instrument")] if instrument else []
    argv = [*prefix, sys.executable, "-m", "uvicorn", "burst_app:app", "--fd", str(sock.fileno()), "--no-access-log",
            "--ws", "websockets-sansio", "--timeout-graceful-shutdown", "3"]
    if gunicorn_workers:
        argv = [sys.executable, "-m", "gunicorn", "burst_app:app", "--preload", "--workers", str(gunicorn_workers),
                "--worker-class", "uvicorn.workers.UvicornWorker", "--bind", f"fd://{sock.fileno()}",
                "--graceful-timeout", "5", "--no-control-socket"]
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environ,
                                pass_fds=[sock.fileno()])
    finally:
        sock.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start: " + log_path.read_text())
            try:
                if httpx.get(url + "/board", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield App(url, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def envelope(n: int, name: str = "tick", connection_id: str | None = None) -> dict[str, Any]:
    lo: dict[str, Any] = {"event_id": str(uuid7()), "event_name": name, "seq": n}
    if connection_id:
        lo["connection_id"] = connection_id
    return {"n": n, "lo": lo}


async def burst(url: str, connections: int, events: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """Open ``connections`` sockets, send ``events`` live events on each (waiting for each reply); keep them open.

    Returns the open sockets and every reply.
    """
    async def one(i: int) -> tuple[Any, list[dict[str, Any]]]:
        ws = await websockets.connect(url, max_size=None)
        cid = str(uuid.uuid4())
        replies = []
        for n in range(events):
            await ws.send(json.dumps(envelope(n, connection_id=cid)))
            replies.append(json.loads(await ws.recv()))
        return ws, replies

    done = await asyncio.gather(*(one(i) for i in range(connections)))
    return [ws for ws, _ in done], [r for _, rs in done for r in rs]
