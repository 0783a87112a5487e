"""A ClickHouse store (a server or chdb) for scripts, notebooks and the CLI: trace, incidents, gates, SQL.

:func:`liveobs.correlator.open` returns one for a ``clickhouse://``, ``clickhouses://`` or
``chdb://`` URL. Its queries are the DuckDB store's, rewritten for ClickHouse
(:mod:`liveobs.correlator._dialect`), so both give the same typed results; ``sql()``
takes DuckDB SQL the same way and answers rows with their column names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liveobs.correlator._sqlcursor import Cursor, cursor_for
from liveobs.correlator._store import QueryingStore

if TYPE_CHECKING:
    from liveobs.correlator import stores


class UrlStore(QueryingStore):
    """Read access to a store opened by URL; ``backend`` is the opened :class:`~liveobs.correlator.stores.Store`."""

    def __init__(self, backend: stores.Store) -> None:
        self.backend = backend
        self.connection: Cursor = cursor_for(backend)
        self.location = backend.location

    @property
    def engine(self) -> str:
        return self.backend.engine

    @property
    def cursor(self) -> Cursor:
        return self.connection

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> stores.Rows:
        """Rows of one query written in DuckDB's dialect (as for a DuckDB store), with ``.columns`` and ``.dicts()``."""
        from liveobs.correlator.stores import Rows

        cur = self.connection.execute(query, params)
        return Rows([d[0] for d in cur.description or ()], cur.fetchall())

    def spans(self, trace_id: str) -> stores.Rows:
        """The spans of one trace, as rows."""
        return self.sql('SELECT * FROM otel_traces WHERE TraceId = $trace_id ORDER BY "Timestamp"',
                        {"trace_id": trace_id})

    def close(self) -> None:
        self.backend.close()


def open_url(url: str) -> UrlStore:
    """Open the ClickHouse store at ``url`` (see :func:`liveobs.correlator.stores.open_store`)."""
    from liveobs.correlator.stores import open_store

    return UrlStore(open_store(url))
