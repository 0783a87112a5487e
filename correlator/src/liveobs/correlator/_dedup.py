"""Idempotent ingest: a request sent again (its answer was lost) is stored once.

OTLP exporters retry a request whose answer they did not get, so the collector
may receive the same body twice. A request is known by a digest of its sender
(the Authorization header it presented), its signal and its decompressed body.
The digests of the requests stored in the last :data:`DEFAULT_WINDOW_S` are
kept in memory and in ``liveobs_request_digests``, written in the same
transaction as the request's rows, so that the window survives a restart.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Final

import duckdb

# Exporters retry within about a minute; a quarter of an hour leaves room for a collector restart.
DEFAULT_WINDOW_S: Final = 15 * 60
# At most this many digests are remembered (about 120 bytes each in memory).
DEFAULT_MAX_ENTRIES: Final = 500_000

# Shape: the digests received since a time (epoch seconds, as ReceivedAt).
RECENT_DIGESTS: Final = "SELECT Digest, ReceivedAt FROM liveobs_request_digests WHERE ReceivedAt >= ?"
# Shape: one row per digest of the list, all received at the same time.
ADD_DIGESTS: Final = "INSERT INTO liveobs_request_digests SELECT unnest(?::BLOB[]), ?"
# Shape: forget the digests older than a time.
EXPIRE_DIGESTS: Final = "DELETE FROM liveobs_request_digests WHERE ReceivedAt < ?"


def request_digest(sender: str | None, signal: str, body: bytes) -> bytes:
    """16 bytes naming one request of one sender."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update((sender or "").encode("utf-8", "surrogateescape"))
    digest.update(b"\0" + signal.encode() + b"\0")
    digest.update(body)
    return digest.digest()


class RecentRequests:
    """The digests seen within the window (oldest first); thread-safe."""

    def __init__(self, window: float = DEFAULT_WINDOW_S, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.window = window
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, con: duckdb.DuckDBPyConnection) -> None:
        """Remember what the store received within the window."""
        rows = con.execute(RECENT_DIGESTS, [time.time() - self.window]).fetchall()
        with self._lock:
            for digest, at in sorted(rows, key=lambda row: float(row[1])):
                self._seen[bytes(digest)] = float(at)
            self._expire(time.time())

    def claim(self, digest: bytes) -> bool:
        """True (and remembered) if ``digest`` is new; False for a duplicate."""
        if not digest:
            return True
        now = time.time()
        with self._lock:
            seen = self._seen.get(digest)
            if seen is not None and now - seen <= self.window:
                return False
            self._seen[digest] = now
            self._seen.move_to_end(digest)
            self._expire(now)
        return True

    def forget(self, digest: bytes) -> None:
        """The request was not stored after all (its write failed): a retry must be taken."""
        with self._lock:
            self._seen.pop(digest, None)

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen and (len(seen) > self.max_entries or now - next(iter(seen.values())) > self.window):
            seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)


def record_digests(con: duckdb.DuckDBPyConnection, digests: list[bytes]) -> None:
    """Store the digests of requests committed now (inside the caller's transaction)."""
    if digests:
        con.execute(ADD_DIGESTS, [digests, time.time()])


def expire_digests(con: duckdb.DuckDBPyConnection, window: float = DEFAULT_WINDOW_S) -> None:
    con.execute(EXPIRE_DIGESTS, [time.time() - window])
