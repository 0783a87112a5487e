"""liveobs's DuckDB-only tables, read on ClickHouse as empty relations of the same columns.

Some of liveobs's tables exist only where liveobs writes the store itself: what retention
keeps past its horizon (on ClickHouse the exporter's TTL expires rows, nothing is folded)
and the release records of ``liveobs release record`` (which writes DuckDB stores). A query
that reads them beside the exporter's tables must still run on a ClickHouse that lacks
them, and there they hold nothing. Their columns come from the DuckDB migrations
themselves, so a table added there is covered here without a second definition.
"""

from __future__ import annotations

import functools
import re
from typing import Final

import duckdb

from liveobs.correlator._schema import migrate

# The store's own bookkeeping, never read by trace, incidents or the gates.
_BOOKKEEPING: Final = frozenset(
    {"liveobs_migrations", "liveobs_spool", "liveobs_ingest_ledger", "liveobs_request_digests"}
)
_SCALARS: Final = {
    "VARCHAR": "String",
    "BOOLEAN": "Bool",
    "TINYINT": "Int8",
    "SMALLINT": "Int16",
    "INTEGER": "Int32",
    "BIGINT": "Int64",
    "UTINYINT": "UInt8",
    "USMALLINT": "UInt16",
    "UINTEGER": "UInt32",
    "UBIGINT": "UInt64",
    "FLOAT": "Float32",
    "DOUBLE": "Float64",
    "DATE": "Date32",
    "TIMESTAMP": "DateTime64(6)",
    "TIMESTAMP_NS": "DateTime64(9)",
    "TIMESTAMP WITH TIME ZONE": "DateTime64(6, 'UTC')",
    "BLOB": "String",
}
_MAP: Final = re.compile(r"MAP\((.+), (.+)\)")


class UnmappedTypeError(ValueError):
    """A DuckDB column type with no ClickHouse counterpart here."""


def clickhouse_type(duckdb_type: str) -> str:
    """The ClickHouse type of a DuckDB column type, nullable where ClickHouse allows it."""
    if duckdb_type.endswith("[]"):
        return f"Array({clickhouse_type(duckdb_type[:-2])})"
    found = _MAP.fullmatch(duckdb_type)
    if found is not None:
        key, value = (_scalar(part) for part in found.groups())
        return f"Map({key}, {value})"
    return f"Nullable({_scalar(duckdb_type)})"


def _scalar(duckdb_type: str) -> str:
    try:
        return _SCALARS[duckdb_type]
    except KeyError:
        raise UnmappedTypeError(f"no ClickHouse type for DuckDB's {duckdb_type}") from None


@functools.lru_cache(maxsize=1)
def duckdb_only_tables() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Every liveobs table and view of a migrated DuckDB store: ``(name, ((column, duckdb type), ...))``."""
    con = duckdb.connect()
    try:
        migrate(con)
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_name LIKE 'liveobs\\_%' ESCAPE '\\' ORDER BY table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        if table not in _BOOKKEEPING:
            tables.setdefault(table, []).append((column, data_type))
    return tuple((name, tuple(columns)) for name, columns in tables.items())


def empty_select(columns: tuple[tuple[str, str], ...]) -> str:
    """A ClickHouse ``SELECT`` of no rows with these columns and types."""
    fields = ", ".join(f"CAST({_empty(t)}, '{clickhouse_type(t)}') AS `{c}`" for c, t in columns)
    return f"SELECT {fields} WHERE 0"


def _empty(duckdb_type: str) -> str:
    if duckdb_type.endswith("[]"):
        return "[]"
    return "map()" if _MAP.fullmatch(duckdb_type) else "NULL"
