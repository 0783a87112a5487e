"""Read one exporter table from DuckDB and from ClickHouse as the same plain Python rows.

Times become integers (nanoseconds, or seconds where the ClickHouse column is ``DateTime``),
maps dicts, nested columns lists; rows are sorted so that two stores compare row by row.
"""

from __future__ import annotations

from typing import Any

from liveobs.correlator.stores import Store


def _duck_column(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


def _expressions(column: str, ch_type: str) -> tuple[str, str]:
    """(DuckDB expression, ClickHouse expression) giving the column's plain value."""
    duck, ch = _duck_column(column), f"`{column}`"
    nested = ch_type.startswith("Array(")
    inner = ch_type[6:-1] if nested else ch_type
    if inner.startswith("DateTime64"):
        d, c = "epoch_ns({x})", "toUnixTimestamp64Nano({x})"
    elif inner.startswith("DateTime"):
        d, c = "(epoch_ns({x}) // 1000000000)", "toInt64(toUnixTimestamp({x}))"
    else:
        return duck, ch
    if nested:
        return f"list_transform({duck}, lambda x: {d.format(x='x')})", f"arrayMap(x -> {c.format(x='x')}, {ch})"
    return d.format(x=duck), c.format(x=ch)


def exporter_columns(clickhouse: Store, table: str, *, skip: frozenset[str] = frozenset({"TimestampTime"})) -> dict[str, str]:
    """The exporter table's columns in ClickHouse (name → type), less derived ones."""
    return {c: t for c, t in clickhouse.layout.columns(table).items() if c not in skip}


def _sortable(row: tuple[Any, ...]) -> str:
    return repr(row)


def read_both(duck: Store, clickhouse: Store, table: str, columns: dict[str, str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    pairs = [_expressions(c, t) for c, t in columns.items()]
    duck_rows = duck.query(f"SELECT {', '.join(p[0] for p in pairs)} FROM {table}")
    ch_rows = clickhouse.query(f"SELECT {', '.join(p[1] for p in pairs)} FROM {table}")
    return sorted(map(_plain, duck_rows), key=_sortable), sorted(map(_plain, ch_rows), key=_sortable)


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_value(v) for v in row)


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _value(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    return value
