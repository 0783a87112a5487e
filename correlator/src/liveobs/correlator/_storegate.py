"""A moment with no transaction open in the store, for the retention pass's checkpoint.

DuckDB's ``CHECKPOINT`` succeeds while other transactions are open, but then it
cannot vacuum rows deleted after the oldest of them began: their blocks stay
used, and a later checkpoint frees them only once something else changed. The
retention pass would then measure the store as full still and delete again. So
the writer's commits and the read API's queries enter the gate together
(:meth:`StoreGate.shared`), and the pass's checkpoint enters alone
(:meth:`StoreGate.alone`): it waits, for a bounded time, until those inside
have left, and meanwhile holds new ones back. A checkpoint takes a few hundred
milliseconds; acknowledgement does not wait for it (the spool answers first).

The gate also carries the writer's hook before each commit (:meth:`before_commit`),
which the retention pass uses to hold commits while the store is over its size
limit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

import duckdb

log = logging.getLogger("liveobs.correlator.retention")


class StoreGate:
    """Shared entry for commits and reads, sole entry for a checkpoint."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inside = 0
        self._asking = 0  # checkpoints waiting to enter alone: new shared entries wait behind them
        self._alone = False
        # Called by the writer's commit thread, with its connection, before each commit (outside the gate).
        self.room: Callable[[duckdb.DuckDBPyConnection], None] | None = None
        self.room_errors = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """A commit or a read: runs beside the others, never beside a checkpoint taken alone. Not reentrant."""
        with self._cond:
            while self._alone or self._asking:
                self._cond.wait()
            self._inside += 1
        try:
            yield
        finally:
            with self._cond:
                self._inside -= 1
                if not self._inside:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self, patience: float) -> Iterator[bool]:
        """Enter once nothing else is inside, waiting at most ``patience`` seconds; yields whether it is alone
        (when not, the body runs anyway, beside the others)."""
        deadline = time.monotonic() + patience
        quiet = False
        with self._cond:
            self._asking += 1
            try:
                while self._inside or self._alone:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                quiet = not self._inside and not self._alone
                if quiet:
                    self._alone = True
            finally:
                self._asking -= 1
                if not quiet:
                    self._cond.notify_all()
        try:
            yield quiet
        finally:
            if quiet:
                with self._cond:
                    self._alone = False
                    self._cond.notify_all()

    def before_commit(self, con: duckdb.DuckDBPyConnection) -> None:
        """The writer's hook before a commit (may wait, see :attr:`room`); never raises: the commit goes on."""
        room = self.room
        if room is None:
            return
        try:
            room(con)
        except Exception as exc:  # the size check failed: commit anyway (retention still runs its passes)
            self.room_errors += 1
            if self.room_errors == 1:
                log.warning("liveobs retention: checking the store's size before a commit failed (%s: %s);"
                            " committing anyway", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
