"""Fixtures for the ClickHouse tests: a fresh chdb folder per test, with the exporter's tables.

chdb and clickhouse-connect are imported here at collection: without the
``liveobs-correlator[clickhouse]`` extra every test in this directory fails,
none is skipped. chdb opens one data folder per process at a time, so each
fixture closes its store before the next test opens another.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import chdb  # noqa: F401  (the embedded engine must be installed: fail, not skip)
import clickhouse_connect  # noqa: F401
import pytest

from liveobs.correlator.stores import Store, open_store

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from ch_stores import chdb_url, create_exporter_tables  # noqa: E402


@pytest.fixture
def exporter_store(tmp_path: Path) -> Iterator[Store]:
    """A chdb store with the exporter's current tables, empty."""
    with open_store(chdb_url(tmp_path / "chdb"), create=True) as store:
        create_exporter_tables(store)
        yield store


@pytest.fixture
def chdb_factory(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Open chdb stores in ``tmp_path``; each one is closed when the test ends (or when it opens the next)."""
    opened: list[Store] = []

    def make(name: str = "chdb", *, database: str = "otel", create: bool = True) -> Store:
        for store in opened:
            store.close()
        opened.clear()
        store = open_store(chdb_url(tmp_path / name, database), create=create)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
