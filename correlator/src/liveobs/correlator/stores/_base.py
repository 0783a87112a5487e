"""What every store gives the query layer: an engine name, rows for SQL, and its inspected layout."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

from liveobs.correlator.stores._layout import Layout
from liveobs.correlator.stores._url import StoreURL

Engine = Literal["duckdb", "clickhouse"]
Params = Mapping[str, Any] | Sequence[Any] | None


class StoreOpenError(RuntimeError):
    """The store cannot be opened: no such file or database, unreachable, refused, or held by a process.

    ``missing`` is true when the store does not exist (a usage error), false when it
    exists but cannot be reached now.
    """

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


class StoreQueryError(RuntimeError):
    """The engine refused a statement; the message is the engine's first line."""


class Rows(list[tuple[Any, ...]]):
    """Result rows as tuples, with the result's column names in ``columns``."""

    def __init__(self, columns: Iterable[str], rows: Iterable[tuple[Any, ...]]) -> None:
        super().__init__(rows)
        self.columns: tuple[str, ...] = tuple(columns)

    def dicts(self) -> list[dict[str, Any]]:
        """Each row as a mapping of column name to value."""
        return [dict(zip(self.columns, row, strict=True)) for row in self]


class Store(ABC):
    """One opened store. SQL given to :meth:`query` is in the engine's own dialect."""

    engine: Engine
    url: StoreURL

    def __init__(self) -> None:
        self._layout: Layout | None = None

    @property
    def location(self) -> str:
        """Where the store is, safe to print (a server URL without its password)."""
        return self.url.redacted()

    @property
    def database(self) -> str:
        return self.url.database

    @property
    def layout(self) -> Layout:
        """The tables as inspected when first asked (see :meth:`refresh_layout`)."""
        if self._layout is None:
            self._layout = self._inspect()
        return self._layout

    def refresh_layout(self) -> Layout:
        """Inspect again, e.g. after ``liveobs clickhouse init`` created tables."""
        self._layout = None
        return self.layout

    @abstractmethod
    def query(self, sql: str, params: Params = None) -> Rows:
        """Run one statement that returns rows; values only ever as bound ``params``.

        DuckDB takes ``$name`` (mapping) or ``?`` (sequence) placeholders;
        ClickHouse takes ``{name:Type}`` placeholders with a mapping.
        """

    @abstractmethod
    def execute(self, sql: str, params: Params = None) -> None:
        """Run one statement for its effect (DDL, ``INSERT … SELECT``)."""

    @abstractmethod
    def close(self) -> None:
        """Release the file, the embedded engine or the connection."""

    @abstractmethod
    def _inspect(self) -> Layout: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
