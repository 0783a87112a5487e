"""Stores by URL: one interface over DuckDB files and ClickHouse (server or chdb).

The interface the query layer builds on::

    from liveobs.correlator.stores import open_store

    with open_store("chdb:///var/lib/liveobs/chdb?database=otel") as store:
        store.engine                 # "duckdb" | "clickhouse"
        rows = store.query(sql, params)   # Rows: a list of tuples, with rows.columns
        store.execute(ddl)           # statements run for their effect
        store.layout                 # Layout: what inspection found (see below)

``open_store(url)`` takes:

* a plain path: a DuckDB file, opened as today (read-only when its schema is current);
* ``chdb:///abs/folder?database=NAME``: embedded ClickHouse (one data folder per process);
* ``clickhouse://user@host:8123/NAME`` or ``clickhouses://user@host:8443/NAME`` (TLS; ``?ca_cert=PATH``,
  ``?verify=false``): a ClickHouse server over HTTP(S).

The database defaults to ``otel``, the Collector exporter's. A URL never carries a password:
:class:`StoreURLError` says so; the password comes from ``LIVEOBS_CLICKHOUSE_PASSWORD_FILE`` or
``LIVEOBS_CLICKHOUSE_PASSWORD``, the user from the URL or ``LIVEOBS_CLICKHOUSE_USER``.

SQL is in the engine's own dialect and values are bound parameters: DuckDB takes ``$name`` with a
mapping (or ``?`` with a sequence), ClickHouse ``{name:Type}`` with a mapping. Engine errors become
:class:`StoreQueryError` (the engine's first line); a store that cannot be opened,
:class:`StoreOpenError` (``missing`` when it does not exist).

:class:`Layout` (``store.layout``) is found by inspecting the tables, never by asking for a
migration: ``layout.logs`` is ``"five_minutes"`` (the exporter's newer logs table, ordered by
``toStartOfFiveMinutes(Timestamp)``), ``"timestamp_time"`` (the older one with ``TimestampTime``),
``"duckdb"`` or ``"absent"``; ``layout.logs_event_name`` whether ``EventName`` exists;
``layout.metric_time`` each metric table's ``TimeUnix`` family (``DateTime64`` or ``DateTime``);
``layout.time_kind(table, column)`` any time column's (e.g. ``otel_traces_trace_id_ts.Start``);
``layout.liveobs_objects`` / ``layout.liveobs_views`` which liveobs tables and views exist (on
ClickHouse, what ``liveobs clickhouse init`` created); ``layout.columns(table)`` every column's type.
"""

from __future__ import annotations

import os

from liveobs.correlator.stores._base import Engine, Params, Rows, Store, StoreOpenError, StoreQueryError
from liveobs.correlator.stores._layout import EXPORTER_TABLES, METRIC_TABLES, Layout, TableShape
from liveobs.correlator.stores._url import (
    DEFAULT_DATABASE,
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    USER_ENV,
    StoreURL,
    StoreURLError,
    is_store_url,
    parse_store_url,
)

__all__ = [
    "DEFAULT_DATABASE",
    "EXPORTER_TABLES",
    "METRIC_TABLES",
    "PASSWORD_ENV",
    "PASSWORD_FILE_ENV",
    "USER_ENV",
    "Engine",
    "Layout",
    "Params",
    "Rows",
    "Store",
    "StoreOpenError",
    "StoreQueryError",
    "StoreURL",
    "StoreURLError",
    "TableShape",
    "is_store_url",
    "open_store",
    "parse_store_url",
]


def open_store(url: str | os.PathLike[str], *, create: bool = False) -> Store:
    """Open the store at ``url`` (see the module docstring).

    ``create`` makes a missing DuckDB file (at the latest migration) or chdb folder and
    database; a ClickHouse server's database is the Collector's to create.
    """
    parsed = parse_store_url(url)
    if parsed.kind == "duckdb":
        from liveobs.correlator.stores._duckdb import open_duckdb

        return open_duckdb(parsed, create=create)
    from liveobs.correlator.stores._clickhouse import open_clickhouse

    return open_clickhouse(parsed, create=create)
