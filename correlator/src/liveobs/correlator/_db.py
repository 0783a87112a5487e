"""Opening a DuckDB store file: settings, migrations, and a clear error when busy."""

from __future__ import annotations

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
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(target, config=dict(config or {}))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusyError(f"{target} is held by another process: {exc}") from exc
        raise
    con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    if migrate_schema:
        migrate(con)
    return con
