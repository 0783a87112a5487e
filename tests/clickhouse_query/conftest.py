"""Fixtures for the query layer on ClickHouse: an embedded chdb session over the exporter's tables.

chdb and clickhouse-connect are imported at module level on purpose: without them these
tests fail at collection, never skip.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chdb  # noqa: F401  (a missing chdb fails these tests, never skips them)
import clickhouse_connect
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from exporter_tables import create_tables  # noqa: E402

from liveobs.correlator._sqlcursor import ClickHouseCursor, client_runner  # noqa: E402


def open_chdb(folder: Path) -> Any:
    """A clickhouse-connect client on an embedded chdb folder, in a fresh ``otel`` database."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{folder}")
    client.command("CREATE DATABASE IF NOT EXISTS otel")
    client.command("USE otel")
    return client


@pytest.fixture
def chdb_client(tmp_path: Path) -> Iterator[Any]:
    client = open_chdb(tmp_path / "chdb")
    create_tables(client)
    yield client
    client.close()


@pytest.fixture
def ch_cursor(chdb_client: Any) -> ClickHouseCursor:
    return ClickHouseCursor(client_runner(chdb_client))
