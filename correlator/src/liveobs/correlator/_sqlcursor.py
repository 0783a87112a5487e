"""One cursor shape for both engines, so trace, incidents and the gates run their DuckDB SQL anywhere.

The correlator's queries use a small part of DuckDB's cursor: ``execute(sql,
params)``, ``fetchone``, ``fetchall``, ``description``, ``cursor()`` and
``close()``. :class:`ClickHouseCursor` offers the same over any function that runs
one ClickHouse statement with named parameters, rewriting each statement with
:mod:`liveobs.correlator._dialect` first. A DuckDB connection is used as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Self

import duckdb

if TYPE_CHECKING:
    from liveobs.correlator.stores import Store


# Runs one ClickHouse statement with named, typed parameters: (column names, rows).
Runner = Callable[[str, dict[str, Any]], tuple[list[str], list[tuple[Any, ...]]]]
Params = Sequence[Any] | Mapping[str, Any] | None


class QueryError(RuntimeError):
    """A query failed on ClickHouse (or could not be rewritten for it)."""


# Statements that return no rows: run as commands.
_STATEMENTS = ("CREATE", "DROP", "INSERT", "DELETE", "ALTER", "TRUNCATE")
_TRANSACTION = frozenset({"BEGIN", "BEGIN TRANSACTION", "COMMIT", "ROLLBACK"})
# What a failing query raises on either engine.
QUERY_ERRORS: tuple[type[Exception], ...] = (duckdb.Error, QueryError)


class Cursor(Protocol):
    """The part of a DuckDB cursor that the correlator's queries use."""

    @property
    def description(self) -> Any: ...

    def execute(self, query: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, query: str, parameters: Sequence[Params]) -> Self:
        for row in parameters:
            self.execute(query, row)
        return self

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def cursor(self) -> Any: ...

    def close(self) -> None: ...


class ClickHouseCursor:
    """A DuckDB-shaped cursor over ClickHouse: each statement is rewritten, typed and run."""

    engine = "clickhouse"

    def __init__(self, run: Runner, derived: tuple[tuple[str, str], ...] = ()) -> None:
        self._run = run
        self._derived = derived
        self._columns: list[str] = []
        self._rows: list[tuple[Any, ...]] = []
        self._next = 0

    @property
    def description(self) -> list[tuple[str, None, None, None, None, None, None]]:
        return [(name, None, None, None, None, None, None) for name in self._columns]

    def execute(self, query: str, parameters: Params = None) -> Self:
        # SQLGlot is part of the ClickHouse extra: imported only when a ClickHouse store is queried.
        from liveobs.correlator._dialect import UnsupportedSQLError, bind, to_clickhouse

        if query.strip().upper() in _TRANSACTION:
            # ClickHouse has no multi-statement transactions; each INSERT is atomic on its own.
            self._columns, self._rows, self._next = [], [], 0
            return self
        try:
            sql, values = bind(to_clickhouse(query, self._derived), parameters)
        except UnsupportedSQLError as exc:
            raise QueryError(f"cannot run on ClickHouse: {exc}") from exc
        try:
            self._columns, rows = self._run(sql, values)
        except QueryError:
            raise
        except Exception as exc:  # the driver's own errors vary by transport (HTTP, chdb)
            raise QueryError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
        self._rows = [tuple(row) for row in rows]
        self._next = 0
        return self

    def executemany(self, query: str, parameters: Sequence[Params]) -> Self:
        for row in parameters:
            self.execute(query, row)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows

    def cursor(self) -> ClickHouseCursor:
        """Another cursor on the same session (temporary tables are shared, as DuckDB's are)."""
        return ClickHouseCursor(self._run, self._derived)

    def close(self) -> None:
        self._rows = []


def store_runner(store: Store) -> Runner:
    """A :data:`Runner` over an opened ClickHouse :class:`~liveobs.correlator.stores.Store`.

    One statement at a time: the cursors of one store may be used from several threads (the web
    view's), and a client is not made for concurrent statements.
    """
    lock = threading.Lock()

    def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        with lock:
            if sql.lstrip().upper().startswith(_STATEMENTS):
                store.execute(sql, params)
                return [], []
            rows = store.query(sql, params)
            return list(rows.columns), list(rows)

    return run


def cursor_for(store: Store) -> Cursor:
    """What trace, incidents and the gates query: DuckDB's own connection, or a cursor rewriting for ClickHouse."""
    from liveobs.correlator.stores._duckdb import DuckDBStore

    if isinstance(store, DuckDBStore):
        connection: Cursor = store.connection
        return connection
    return ClickHouseCursor(store_runner(store), derived_tables(store))


def derived_tables(store: Store) -> tuple[tuple[str, str], ...]:
    """liveobs's index tables that this ClickHouse lacks, each as the ``SELECT`` its view would run.

    Without ``liveobs clickhouse init`` every answer is the same, computed from the exporter's
    tables at query time (a lookup by id then scans attribute maps). The tables only liveobs
    writes (gate runs, release records, kept samples) read as empty: nothing was recorded there.
    """
    from liveobs.correlator.stores._chmirror import empty_select, liveobs_tables
    from liveobs.correlator.stores._chschema import feeds

    layout = store.layout
    selects: dict[str, list[str]] = {}
    for feed in feeds(layout):
        if not layout.has(feed.target):
            selects.setdefault(feed.target, []).append(feed.view_sql())
    for table, columns in liveobs_tables():
        if table not in selects and not layout.has(table):
            selects[table] = [empty_select(columns)]
    if layout.has("otel_logs") and not layout.logs_event_name:
        # The exporter's older logs table has no EventName: older SDKs sent it as the event.name attribute.
        selects["otel_logs"] = [_LEGACY_LOGS]
    return tuple((table, " UNION ALL ".join(parts)) for table, parts in sorted(selects.items()))


_LEGACY_LOGS = ("SELECT *, if(mapContains(LogAttributes, 'event.name'), LogAttributes['event.name'], '') AS EventName "
                "FROM otel_logs")


def client_runner(client: Any) -> Runner:
    """A :data:`Runner` over a ``clickhouse_connect`` client (``chdb://`` or HTTP)."""

    def run(sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
        if sql.lstrip().upper().startswith(_STATEMENTS):
            client.command(sql, parameters=params)
            return [], []
        result = client.query(sql, parameters=params)
        return list(result.column_names), [tuple(row) for row in result.result_rows]

    return run
