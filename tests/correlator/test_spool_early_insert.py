"""The spool writer inserts converted requests into an open transaction before the commit is due.

Nothing inserted early is visible before the commit; a failure while inserting
early or while committing rolls the transaction back and the group is committed
on the writer's own path, each row stored once.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from liveobs.correlator._db import connect
from liveobs.correlator._otlp import TRACES
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._spool import Spool
from liveobs.correlator._spoolwriter import SpoolWriter
from liveobs.correlator._transaction import OpenTransaction
from liveobs.correlator._writer import WriteResult


def _body(n: int) -> bytes:
    return sample_spans_request(n).SerializeToString()


def _wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _stored(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, int]:
    spans, distinct = con.execute("SELECT count(*), count(DISTINCT SpanId) FROM otel_traces").fetchone()
    index = con.execute("SELECT count(*) FROM liveobs_correlation WHERE Signal = 'span'").fetchone()[0]
    # Every stored trace has its bounds, and they cover its spans.
    unbounded = con.execute("""
        SELECT count(*) FROM (SELECT TraceId, min("Timestamp") AS s FROM otel_traces GROUP BY TraceId) t
        WHERE NOT EXISTS (SELECT 1 FROM otel_traces_trace_id_ts b WHERE b.TraceId = t.TraceId AND b."Start" <= t.s)
    """).fetchone()[0]
    return spans, distinct, index, unbounded


def test_rows_inserted_before_the_commit_are_seen_only_once_it_commits(tmp_path: Path) -> None:
    con = connect(tmp_path / "e.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), commit_rows=100_000, max_delay=3600, early_rows=250).start()
    try:
        for _ in range(10):
            assert writer.write(TRACES, _body(100)) == WriteResult(100, 0)
        _wait_for(lambda: writer.stats.early_rows >= 750)
        reader = con.cursor()
        assert reader.execute("SELECT count(*) FROM otel_traces").fetchone() == (0,)
        assert writer.stats.commits == 0
        assert writer.flush(timeout=30)
        assert _stored(reader) == (1000, 1000, 1000, 0)
        assert writer.stats.commits == 1
        assert writer.stats.max_commit_rows == 1000
    finally:
        writer.close()
    con.close()


@pytest.mark.parametrize(("failing", "call"), [("add", 2), ("commit", 1)])
def test_a_failure_of_the_open_transaction_commits_the_group_again_each_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, call: int
) -> None:
    real = getattr(OpenTransaction, failing)
    calls = {"n": 0}

    def fails_once(self: OpenTransaction, *args: object) -> object:
        calls["n"] += 1
        if calls["n"] == call:  # the second early insert, or the commit of rows inserted early
            raise duckdb.IOException("injected: the disk went away")
        return real(self, *args)

    monkeypatch.setattr(OpenTransaction, failing, fails_once)
    con = connect(tmp_path / "f.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), commit_rows=100_000, max_delay=3600, early_rows=100).start()
    bodies = [_body(100) for _ in range(8)]
    try:
        assert writer.write(TRACES, bodies[0]) == WriteResult(100, 0)
        _wait_for(lambda: writer.stats.early_rows >= 100)
        assert writer.write(TRACES, bodies[1]) == WriteResult(100, 0)
        if failing == "add":
            _wait_for(lambda: calls["n"] >= 2)
        for body in bodies[2:]:
            assert writer.write(TRACES, body) == WriteResult(100, 0)
        assert writer.stats.commits == 0
        assert writer.flush(timeout=30)
        assert _stored(con.cursor()) == (800, 800, 800, 0)
        assert writer.stats.errors == 1
        assert writer.stats.commits == 1
        assert writer.write(TRACES, bodies[0]) == WriteResult(0, 0, duplicate=True)  # its digest was kept
    finally:
        writer.close()
    assert _stored(con) == (800, 800, 800, 0)
    con.close()
