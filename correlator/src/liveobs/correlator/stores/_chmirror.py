"""liveobs's tables that no exporter table feeds, on ClickHouse as the DuckDB migrations define them.

The release records of ``liveobs release record`` and ``dry-run`` (migration 8, with the
``liveobs_release_changes`` view), and the baseline samples and incident stacks kept past
retention (migration 9), are written by liveobs itself, never by a materialized view.
``liveobs clickhouse init`` creates them with the columns the migrations give them, so a
table added there is created here without a second definition; the view is the migration's
own ``SELECT``, rewritten by :mod:`liveobs.correlator._dialect`.

On a ClickHouse where ``init`` never ran, a query still reads them (and gate runs) as
empty relations of the same columns (:func:`empty_select`): nothing was recorded there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

import duckdb

from liveobs.correlator._schema import MIGRATIONS, migrate

# The store's own bookkeeping, never read by trace, incidents or the gates.
_BOOKKEEPING: Final = frozenset(
    {"liveobs_migrations", "liveobs_spool", "liveobs_ingest_ledger", "liveobs_request_digests"}
)
# Tables ``init`` defines itself (fed by views, or with ClickHouse types of their own).
OWN_DEFINITIONS: Final = frozenset(
    {"liveobs_correlation", "liveobs_errors", "liveobs_releases", "liveobs_gate_runs", "liveobs_gate_results"}
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
_VIEW: Final = re.compile(r"^CREATE VIEW (\w+) AS\n(.*?);$", re.S | re.M)

Columns = tuple[tuple[str, str], ...]  # ((column, DuckDB type), ...)


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
def liveobs_tables() -> tuple[tuple[str, Columns], ...]:
    """Every liveobs table and view of a migrated DuckDB store but the bookkeeping: ``(name, columns)``."""
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


def duckdb_views() -> dict[str, str]:
    """The migrations' views, as their ``SELECT`` in DuckDB SQL, by name."""
    return {name: body for migration in MIGRATIONS for name, body in _VIEW.findall(migration.sql)}


@dataclass(frozen=True, slots=True)
class Mirrored:
    """One table ``init`` creates as its migration defines it: the column list in ClickHouse DDL."""

    name: str
    columns: str


def mirrored_tables() -> list[Mirrored]:
    """The tables liveobs alone writes, with ClickHouse column types (views and own definitions left out)."""
    views = duckdb_views()
    return [
        Mirrored(name, ",\n    ".join(f"`{column}` {clickhouse_type(kind)}" for column, kind in columns))
        for name, columns in liveobs_tables()
        if name not in views and name not in OWN_DEFINITIONS
    ]


def mirrored_views() -> dict[str, str]:
    """The migrations' views as ClickHouse ``SELECT`` statements (with the settings that keep DuckDB's NULLs)."""
    from liveobs.correlator._dialect import to_clickhouse

    return {name: to_clickhouse(body) for name, body in duckdb_views().items()}


def empty_select(columns: Columns) -> str:
    """A ClickHouse ``SELECT`` of no rows with these columns and types."""
    fields = ", ".join(f"CAST({_empty(t)}, '{clickhouse_type(t)}') AS `{c}`" for c, t in columns)
    return f"SELECT {fields} WHERE 0"


def _empty(duckdb_type: str) -> str:
    if duckdb_type.endswith("[]"):
        return "[]"
    return "map()" if _MAP.fullmatch(duckdb_type) else "NULL"
