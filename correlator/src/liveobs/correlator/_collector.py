"""``liveobs collect``: own the store, receive OTLP/HTTP, serve the read API.

The process opens the store (DuckDB allows one process per file), starts the
writer (by default a :class:`~liveobs.correlator._spoolwriter.SpoolWriter`: a
request is answered once it is in the fsynced spool ``<db>.spool/``, and rows are
committed in batches of a DuckDB row group or after a second; on start the spool
is replayed, and every read first commits what was acknowledged; ``spool=False``
answers after each commit instead), binds the socket (``port=0`` picks a free one), writes the discovery
file ``<db>.collector.json`` next to the store so the CLI can find it, and
serves until SIGTERM/SIGINT. Shutdown turns health to failing, lets in-flight
requests finish, drains the writer, closes the store and removes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from liveobs.correlator._auth import check_bind
from liveobs.correlator._connections import ConnectionLimits, uvicorn_settings
from liveobs.correlator._db import connect
from liveobs.correlator._discovery import discovery_path, remove_discovery, write_discovery
from liveobs.correlator._origin import OriginPolicy
from liveobs.correlator._otlp import DEFAULT_MAX_BODY_BYTES
from liveobs.correlator._retention import (
    DEFAULT_INTERVAL_S,
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_SIZE,
    Retention,
    parse_duration,
    parse_size,
)
from liveobs.correlator._server import DEFAULT_MAX_BUFFERED_BYTES, CollectorApp
from liveobs.correlator._signals import stop_signals
from liveobs.correlator._spool import Spool, SpoolError, default_spool_dir, segment_numbers
from liveobs.correlator._spoolcommit import DEFAULT_COMMIT_ROWS, DEFAULT_MAX_DELAY_S
from liveobs.correlator._spoolwriter import DEFAULT_MAX_BACKLOG_BYTES, SpoolWriter
from liveobs.correlator._storegate import StoreGate
from liveobs.correlator._writer import Writer

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 4318
BACKLOG: Final = 1024
# DuckDB's own cache would otherwise grow to 80% of the machine's memory.
DEFAULT_MEMORY_LIMIT: Final = "1GB"
# DuckDB's threads take the GIL back several times per statement (to scan the
# registered Arrow batches, to return); with Python's default 5 ms switch
# interval each take waits for the converter's time slice, which tripled an
# insert's time next to a busy Python thread. 1 ms lets the two overlap.
SWITCH_INTERVAL_S: Final = 0.001
# One DuckDB thread: the converter (Python) needs the other core. With two, the
# collector spent 8.4 CPU-s instead of 7.1 on the ingest bench, for 62k instead
# of 72k spans/s. Reads served by the collector then run on one thread as well.
DEFAULT_THREADS: Final = 1
# glibc's mallopt parameters. Each thread that frees memory keeps it in its own arena, and after a large
# block is freed the threshold for serving blocks from mmap rises to its size, so large request bodies
# and values end up in arenas that never shrink. Two arenas and a fixed 128 KiB threshold (large blocks
# mapped, and unmapped when freed): 160 MB of distinct 1 MB values peaked at 440-570 MiB instead of
# 480-610 MiB (same code otherwise; a loaded two-core machine, so the ranges overlap).
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8
MALLOC_ARENAS: Final = 2
MMAP_THRESHOLD_BYTES: Final = 128 * 1024


@dataclass
class Collector:
    """A collector for one store; :meth:`run` blocks until shut down."""

    db: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    threads: int = DEFAULT_THREADS
    spool: bool = True
    spool_dir: str | None = None
    commit_rows: int = DEFAULT_COMMIT_ROWS
    max_commit_delay: float = DEFAULT_MAX_DELAY_S
    # Transport: names accepted in Host besides localhost and IP addresses (without a token), and the
    # header/body/idle timeouts and connection cap (see _origin and _connections).
    allowed_hosts: tuple[str, ...] = ()
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    # A non-loopback host without a token is refused (InsecureBindError) unless this is set.
    insecure_no_token: bool = False
    max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES
    # Spool mode: trace requests are converted by a child process (the second core), see _spoolconvert.
    convert_process: bool = True
    # The bounded store (see _retention): an age and a size such as "7d" and "20GB", or "off".
    retention: str = DEFAULT_MAX_AGE
    max_size: str = DEFAULT_MAX_SIZE
    retention_interval: float = DEFAULT_INTERVAL_S
    _stoppers: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)

    _stop_requested: bool = field(default=False, init=False, repr=False)

    def stop(self) -> None:
        """Start a clean shutdown from another thread (as SIGTERM does)."""
        self._stop_requested = True
        for stop in self._stoppers:
            stop()

    def _on_early_signal(self, sig: int, frame: Any) -> None:
        self.stop()

    def run(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve until SIGTERM/SIGINT; ``on_ready`` gets the URL once listening."""
        check_bind(self.host, self.token, insecure_no_token=self.insecure_no_token)
        _return_freed_memory()
        _load_read_handlers()
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        spool_dir = self.spool_dir or default_spool_dir(self.db)
        if self.spool and not os.path.exists(self.db) and segment_numbers(spool_dir):
            # Its records belong to a store that is gone: replaying them into a new one would mix two stores.
            sys.setswitchinterval(switch_interval)
            raise SpoolError(
                f"the spool {spool_dir} holds requests of an earlier store, but {self.db} does not exist;"
                " restore that store, or move the spool away to start afresh"
            )
        con = connect(self.db, config={"memory_limit": self.memory_limit, "threads": str(self.threads)})
        con.execute("SET enable_progress_bar = false")  # a commit waiting for a checkpoint must not draw on stdout
        gate = StoreGate()  # commits and reads enter it together, the retention pass's checkpoint alone
        try:
            writer = self._writer(con, spool_dir, gate)
        except BaseException:
            con.close()
            sys.setswitchinterval(switch_interval)
            raise
        read_con = con.cursor()
        retention = Retention(con.cursor(), max_age=parse_duration(self.retention), max_bytes=parse_size(self.max_size),
                              interval=self.retention_interval, gate=gate).start()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        discovery = discovery_path(self.db)
        signals = contextlib.ExitStack()  # the host's signal handlers are given back when the collector stops
        try:
            sock.bind((self.host, self.port))
            # Listen before announcing: a client may connect as soon as the URL is printed.
            sock.listen(BACKLOG)
            port = sock.getsockname()[1]
            host = f"[{self.host}]" if ":" in self.host else self.host
            url = f"http://{host}:{port}"
            app = CollectorApp(
                writer, read_con, token=self.token,
                max_body_bytes=self.max_body_bytes, max_buffered_bytes=self.max_buffered_bytes,
                origin_policy=OriginPolicy.build(token=self.token, allowed_hosts=self.allowed_hosts),
            )
            app.health_sources.append(retention.stats.health)
            write_discovery(discovery, {"url": url, "pid": os.getpid(), "db": os.path.abspath(self.db)})
            # A signal between the announcement and uvicorn's own handlers still drains.
            signals.enter_context(stop_signals(self._on_early_signal))
            if on_ready is not None:
                on_ready(url)
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(_serve(app, sock, self._stoppers, lambda: self._stop_requested, self.limits))
        finally:
            retention.close()
            writer.close()
            read_con.close()
            con.close()
            sock.close()
            remove_discovery(discovery)
            sys.setswitchinterval(switch_interval)
            signals.close()

    def _writer(self, con: Any, spool_dir: str | os.PathLike[str], gate: StoreGate) -> Writer:
        """The started writer: with the spool, after replaying what the last run acknowledged."""
        if not self.spool:
            return Writer(con, gate=gate).start()
        spool = Spool(spool_dir)
        writer = SpoolWriter(con, spool, commit_rows=self.commit_rows, max_delay=self.max_commit_delay,
                             max_backlog_bytes=self.max_backlog_bytes, convert_process=self.convert_process, gate=gate)
        try:
            return writer.start()
        except BaseException:
            spool.close(empty=False)
            raise


async def _serve(
    app: CollectorApp, sock: socket.socket, stopper: list[Callable[[], None]], stop_requested: Callable[[], bool],
    limits: ConnectionLimits,
) -> None:
    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn, with a shutdown that drains and then returns (exit status 0).

        uvicorn re-raises a captured SIGTERM after its graceful shutdown, which would
        kill the process before the writer drains; here the signal only starts the drain.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with stop_signals(self._on_signal):
                yield

        def _on_signal(self, sig: int, frame: Any) -> None:
            self.stop()

        def stop(self) -> None:
            app.draining = True
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

    transport, protocol = uvicorn_settings(limits)
    app.closed_connections = lambda: protocol.closed_slow
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
        backlog=BACKLOG,
        **transport,
    )
    server = _Server(config)
    stopper.append(server.stop)
    if stop_requested():
        server.stop()
    await server.serve(sockets=[sock])


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (``uvicorn[standard]`` brings it): about half the
    event loop's CPU per request; else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _return_freed_memory() -> None:
    """Bound what the C allocator keeps after large requests (glibc only; elsewhere nothing changes)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def _load_read_handlers() -> None:
    """Import the modules that register read handlers (the correlator's queries, gates)."""
    importlib.import_module("liveobs.correlator")
