"""A DuckDB store file behind the :class:`Store` interface (the embedded default)."""

from __future__ import annotations

from typing import Final

import duckdb

from liveobs.correlator.stores._base import Params, Rows, Store, StoreOpenError, StoreQueryError
from liveobs.correlator.stores._layout import Layout, build_layout
from liveobs.correlator.stores._url import StoreURL

# shape: (table, kind, sorting key) for every table and view of the main schema
_TABLES: Final = """
SELECT table_name, table_type, '' FROM information_schema.tables
WHERE table_schema = 'main' AND table_catalog = current_database()
"""
# shape: (table, column, type) in column order
_COLUMNS: Final = """
SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = 'main' AND table_catalog = current_database()
ORDER BY table_name, ordinal_position
"""


class DuckDBStore(Store):
    """One DuckDB file opened by this process; ``connection`` is the DuckDB connection."""

    engine = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection, url: StoreURL) -> None:
        super().__init__()
        self.connection = connection
        self.url = url

    def query(self, sql: str, params: Params = None) -> Rows:
        try:
            cursor = self.connection.execute(sql, params)
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise StoreQueryError(str(exc).splitlines()[0]) from exc
        columns = [d[0] for d in cursor.description or ()]
        return Rows(columns, rows)

    def execute(self, sql: str, params: Params = None) -> None:
        try:
            self.connection.execute(sql, params)
        except duckdb.Error as exc:
            raise StoreQueryError(str(exc).splitlines()[0]) from exc

    def close(self) -> None:
        self.connection.close()

    def _inspect(self) -> Layout:
        tables = self.connection.execute(_TABLES).fetchall()
        columns = self.connection.execute(_COLUMNS).fetchall()
        return build_layout("duckdb", self.url.database, tables, columns)


def open_duckdb(url: StoreURL, *, create: bool = False) -> DuckDBStore:
    """Open the file as ``liveobs trace`` does (read-only when its schema is current).

    ``create`` makes the file (and brings its schema to the latest migration) when absent.
    """
    from liveobs.correlator._db import StoreBusyError, connect
    from liveobs.correlator._store import StoreNotFoundError, open_local

    try:
        if create:
            return DuckDBStore(connect(url.path), url)
        return DuckDBStore(open_local(url.path).connection, url)
    except StoreNotFoundError as exc:
        raise StoreOpenError(str(exc), missing=True) from exc
    except StoreBusyError as exc:
        raise StoreOpenError(str(exc)) from exc
    except duckdb.Error as exc:
        raise StoreOpenError(f"cannot open the store {url.path}: {str(exc).splitlines()[0]}") from exc
