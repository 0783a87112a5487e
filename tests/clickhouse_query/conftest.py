"""Fixtures for the query layer on ClickHouse: an embedded chdb store with the exporter's tables.

chdb and clickhouse-connect are imported at module level on purpose: without them these
tests fail at collection, never skip. chdb opens one data folder per process at a time, so
each fixture closes its store before another opens.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import chdb  # noqa: F401  (a missing chdb fails these tests, never skips them)
import clickhouse_connect  # noqa: F401
import pytest

from liveobs.correlator.stores import Store

HERE = Path(__file__).resolve().parent
for _path in (HERE, HERE.parent / "correlator"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from exporter_tables import open_chdb  # noqa: E402


@pytest.fixture
def chdb_store(tmp_path: Path) -> Iterator[Store]:
    store = open_chdb(tmp_path / "chdb")
    yield store
    store.close()
