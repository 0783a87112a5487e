"""The store as scripts, notebooks and the CLI see it: local file or running collector.

DuckDB lets one process open a store file. When ``liveobs collect`` runs it owns
the file and answers reads over its local HTTP API, so :func:`open` returns a
:class:`~liveobs.correlator._remote.RemoteStore`; otherwise it opens the file
itself and returns a :class:`LocalStore`. Both run the same query functions
and give the same typed results.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import duckdb

from liveobs.correlator._db import StoreBusyError, connect, default_db_path
from liveobs.correlator._incidents import DEFAULT_LIMIT, Incident, incidents
from liveobs.correlator._readapi import READ_TIMEOUT_S
from liveobs.correlator._schema import MIGRATIONS
from liveobs.correlator._sqlcursor import Cursor
from liveobs.correlator._trace import DEFAULT_CONTEXT, trace
from liveobs.correlator._traceresult import TraceResult

# shape: (latest applied migration,)
_SCHEMA_VERSIONS: Final = "SELECT Version FROM liveobs_migrations"


class StoreNotFoundError(FileNotFoundError):
    """No store file at the given path."""


class StoreUnavailableError(RuntimeError):
    """A running collector owns the store but could not answer (down, refused, bad token)."""


class Store(ABC):
    """Read access to one store: trace lookups and incidents."""

    location: str

    @abstractmethod
    def trace(
        self,
        *,
        event_id: str | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
        session_id: str | None = None,
        context: int = DEFAULT_CONTEXT,
    ) -> TraceResult:
        """The trace that one id names, with its ids, error, spans, logs and session context."""

    @abstractmethod
    def incidents(
        self, *, since: str | datetime | None = None, release: str | None = None, limit: int = DEFAULT_LIMIT,
        service: str | None = None,
    ) -> list[Incident]:
        """Error occurrences grouped by fingerprint, newest first (of one ``service.name`` when given)."""

    @abstractmethod
    def close(self) -> None:
        """Release the file or the connection."""

    @property
    @abstractmethod
    def is_remote(self) -> bool:
        """Whether a running collector answers for this store."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class QueryingStore(Store):
    """A store this process queries itself (a DuckDB file, or ClickHouse by URL): trace and incidents over its cursor."""

    @property
    @abstractmethod
    def cursor(self) -> Cursor:
        """What trace, incidents and the gates query."""

    @property
    def is_remote(self) -> bool:
        return False

    def trace(
        self,
        *,
        event_id: str | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
        session_id: str | None = None,
        context: int = DEFAULT_CONTEXT,
    ) -> TraceResult:
        return trace(
            self.cursor, event_id=event_id, request_id=request_id, trace_id=trace_id,
            session_id=session_id, context=context,
        )

    def incidents(
        self, *, since: str | datetime | None = None, release: str | None = None, limit: int = DEFAULT_LIMIT,
        service: str | None = None,
    ) -> list[Incident]:
        return incidents(self.cursor, since=since, release=release, limit=limit, service=service)


class LocalStore(QueryingStore):
    """A store file opened by this process; also gives DuckDB relations for notebooks."""

    def __init__(self, con: duckdb.DuckDBPyConnection, location: str) -> None:
        self.connection = con
        self.location = location

    @property
    def cursor(self) -> Cursor:
        return self.connection

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over the store (``.df()``, ``.arrow()``, ``.show()``…)."""
        return self.connection.sql(query, params=params)

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        """One table of the store as a relation, e.g. ``store.table("otel_traces")``."""
        return self.connection.table(name)

    def spans(self, trace_id: str) -> duckdb.DuckDBPyRelation:
        """The spans of one trace as a relation."""
        return self.connection.sql(
            'SELECT * FROM otel_traces WHERE TraceId = $trace_id ORDER BY "Timestamp"', params={"trace_id": trace_id}
        )

    def close(self) -> None:
        self.connection.close()


def _schema_current(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        applied = {int(row[0]) for row in con.execute(_SCHEMA_VERSIONS).fetchall()}
    except duckdb.CatalogException:
        return False
    # Every migration, not just the newest: a store may hold a later one without an earlier one.
    return {migration.version for migration in MIGRATIONS} <= applied


def open_local(path: str | os.PathLike[str]) -> LocalStore:
    """Open the store file in this process: read-only when its schema is current.

    Raises :class:`StoreNotFoundError` when there is no file and
    :class:`StoreBusyError` when another process holds it.
    """
    target = Path(path)
    if not target.is_file():
        raise StoreNotFoundError(f"no store at {target} (choose one with --db or LIVEOBS_DB)")
    try:
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.ConnectionException:
        # This process already has it open read-write (a notebook that also writes).
        return LocalStore(connect(target), str(target))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusyError(f"{target} is held by another process and no collector answers for it") from exc
        raise
    if _schema_current(con):
        return LocalStore(con, str(target))
    con.close()
    return LocalStore(connect(target), str(target))


def open(
    path: str | os.PathLike[str] | None = None, *, token: str | None = None, timeout: float = READ_TIMEOUT_S
) -> Store:
    """Open the store at ``path`` (default: ``LIVEOBS_DB`` or ``./liveobs.duckdb``).

    A ``clickhouse://``, ``clickhouses://`` or ``chdb://`` URL opens ClickHouse (the
    ``[clickhouse]`` extra) and answers with the same queries and results.

    When a running ``liveobs collect`` owns the file (its discovery file
    ``<path>.collector.json`` names a live process that answers), reads go to
    it over HTTP; otherwise the file is opened here.
    """
    from liveobs.correlator._remote import RemoteStore, discover
    from liveobs.correlator.stores import StoreOpenError, is_store_url

    location = path if path is not None else default_db_path()
    if is_store_url(location):
        from liveobs.correlator._urlstore import open_url

        try:
            return open_url(os.fspath(location))
        except StoreOpenError as exc:
            raise (StoreNotFoundError if exc.missing else StoreUnavailableError)(str(exc)) from exc
    target = Path(location)
    found = discover(target)
    if found is not None:
        return RemoteStore(found.url, db=str(target), token=token, timeout=timeout)
    return open_local(target)

