"""Incidents: error occurrences grouped by fingerprint, against real DuckDB stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

from liveobs.correlator import Incident, ReadRequestError
from liveobs.correlator._db import connect
from liveobs.correlator._incidents import incidents, parse_since
from liveobs.correlator._readapi import read_handlers

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)




def occurrence(
    con: duckdb.DuckDBPyConnection, minutes: int, fingerprint: str, *, event: str | None, session: str,
    release: str, route: str, sources: tuple[str, ...] = ("span", "log", "browser"), message: str = "boom",
    error_class: str = "KeyError", span: str = "0123456789abcdef",
) -> None:
    """One failure as the collector records it: a row per source that saw it."""
    ts = (T0 + timedelta(minutes=minutes)).replace(tzinfo=None)
    for i, source in enumerate(sources):
        con.execute(
            "INSERT INTO liveobs_errors VALUES (? + INTERVAL (?) MILLISECOND, ?, 'shop', ?, 'prod', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ts, i, source, release, error_class, fingerprint, message if source != "browser" else None,
             "t" * 32 if source != "browser" else "", span, event, session, "req-1", route],
        )


@pytest.fixture
def con(tmp_path: Path) -> Any:
    connection = connect(tmp_path / "incidents.duckdb")
    occurrence(connection, 0, "fp-a", event="ev-1", session="s1", release="1.0", route="cart.view")
    occurrence(connection, 10, "fp-a", event="ev-2", session="s2", release="1.1", route="checkout")
    occurrence(connection, 20, "fp-a", event="ev-3", session="s2", release="1.1", route="cart.view",
               message="charge failed with key sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    occurrence(connection, 5, "fp-b", event=None, session="s3", release="1.0", route="items.show",
               sources=("log",), error_class="TimeoutError", span="fedcba9876543210")
    occurrence(connection, 6, "fp-b", event=None, session="s3", release="1.0", route="items.show",
               sources=("span",), error_class="TimeoutError", span="aaaaaaaaaaaaaaaa")
    yield connection
    connection.close()


def test_occurrences_are_grouped_by_fingerprint_newest_first(con: Any) -> None:
    found = incidents(con)
    assert [i.fingerprint for i in found] == ["fp-a", "fp-b"]
    a, b = found
    assert (a.error_class, a.count, a.records, a.affected_sessions) == ("KeyError", 3, 9, 2)
    assert a.releases == ("1.0", "1.1")
    assert a.routes == ("cart.view", "checkout")
    assert a.sources == ("browser", "log", "span")
    assert a.sample_event_ids == ("ev-3", "ev-2", "ev-1")
    assert a.first_seen == "2026-03-01T12:00:00.000000Z"
    assert a.last_seen == "2026-03-01T12:20:00.002000Z"
    # Without event ids each failing span or log record is its own occurrence.
    assert (b.count, b.records, b.sample_event_ids) == (2, 2, ())


def test_messages_are_scrubbed(con: Any) -> None:
    newest = incidents(con)[0]
    assert newest.message is not None
    assert "sk_live_" not in newest.message
    assert newest.message.startswith("charge failed with key ")


def test_since_and_release_narrow_the_evidence(con: Any) -> None:
    since = incidents(con, since=T0 + timedelta(minutes=8))
    assert [(i.fingerprint, i.count) for i in since] == [("fp-a", 2)]
    assert [(i.fingerprint, i.count) for i in incidents(con, release="1.0")] == [("fp-b", 2), ("fp-a", 1)]
    assert incidents(con, release="9.9") == []
    assert [i.fingerprint for i in incidents(con, limit=1)] == ["fp-a"]


def test_relative_and_iso_since_parse_to_utc_times() -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-03-01T12:00:00Z") == T0
    assert parse_since("2026-03-01T12:00:00") == T0
    assert parse_since(None) is None
    with pytest.raises(ReadRequestError, match="90m, 24h, 7d"):
        parse_since("yesterday")


def test_the_read_handler_round_trips_through_json(con: Any) -> None:
    handler = read_handlers()["incidents"]
    answer = handler(con, {"since": (T0 + timedelta(minutes=1)).isoformat(), "limit": 5})
    assert [Incident.from_dict(item) for item in answer] == incidents(con, since=T0 + timedelta(minutes=1))
    with pytest.raises(ReadRequestError, match="unknown parameters: colour"):
        handler(con, {"colour": "red"})
    with pytest.raises(ReadRequestError, match="limit"):
        handler(con, {"limit": 0})


def test_counts_on_a_generated_store_match_the_failing_events(tmp_path: Path, store_generator: ModuleType) -> None:
    summary = store_generator.generate(tmp_path / "gen.duckdb", rows=30_000, seed=5)
    con = duckdb.connect(summary.path, read_only=True)
    try:
        found = incidents(con)
        per_class = dict(
            con.execute("SELECT ErrorType, count(DISTINCT EventId) FROM liveobs_errors GROUP BY ErrorType").fetchall()
        )
    finally:
        con.close()
    assert sum(i.count for i in found) == summary.failed_events
    assert {i.error_class: i.count for i in found} == per_class
    assert all(len(i.sample_event_ids) == min(5, i.count) for i in found)
