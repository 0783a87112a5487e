"""Opening a DuckDB store file: settings, migrations, and a clear error when busy."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

import duckdb

from liveobs.correlator._schema import migrate

# A large checkpoint threshold keeps group commits short: DuckDB's default
# auto-checkpoint made 5,000-row inserts ~10x slower at p95 (DESIGN.md).
CHECKPOINT_THRESHOLD: Final = "256MB"
DB_ENV: Final = "LIVEOBS_DB"
DEFAULT_DB: Final = "./liveobs.duckdb"


class StoreBusyError(RuntimeError):
    """Another process (usually a running ``liveobs collect``) owns the store file."""


def default_db_path() -> str:
    return os.environ.get(DB_ENV) or DEFAULT_DB


def connect(
    path: str | os.PathLike[str] = ":memory:",
    *,
    migrate_schema: bool = True,
    config: dict[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) a store and bring its schema to the latest version.

    ``config`` holds DuckDB settings for the database (e.g. ``memory_limit``).
    Raises :class:`StoreBusyError` when another process holds the file.
    """
    target = str(path)
    created = target != ":memory:" and not os.path.exists(target)
    if created:
        Path(target).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        con = duckdb.connect(target, config=dict(config or {}))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusyError(f"{target} is held by another process: {exc}") from exc
        raise
    con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    if migrate_schema:
        migrate(con)
    if created:
        _make_private(target)
    return con


def _make_private(target: str) -> None:
    """A new store and its write-ahead log: owner only (telemetry holds session ids and messages).

    DuckDB creates its files with the process umask and re-creates the log after each
    checkpoint, so ``liveobs collect`` also sets the umask to 0077.
    """
    for name in (target, target + ".wal"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o600)
