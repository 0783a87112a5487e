"""The kept secret scan: a repeat run scans only the rows added since, and judges as a scan of every row."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import gate_seed as seed

from liveobs.correlator._db import connect
from liveobs.correlator._retention import Retention
from liveobs.correlator.gates import Subject, run_gates

SECRET = ("note", "migration seed 92fQ5ca3Z2KcW8ZcQYe93W37b5bbQQYY33XdY8Y3")
SCAN = "observability.secret_scan,security.key_material"
SUBJECT = Subject(service="shop", release="1.1")
PLANTED = "planted by the test, in no row"


def _first(con: duckdb.DuckDBPyConnection) -> None:
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=40)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=40)
    e.write(con)


def _more(con: duckdb.DuckDBPyConnection, secret: bool, ids: int = 10_000) -> None:
    """More rows of release 1.1: a second process (its own resource), repeats of values already seen, and
    optionally a secret in a log record and a span attribute."""
    e = seed.Evidence(_ids=itertools.count(ids))
    at = seed.START + timedelta(hours=1, minutes=50)
    seed.add_release(e, "1.1", at, n=10)
    for _ in range(3):
        e.span("1.1", at, {seed.keys.SESSION_ID: "s-1", seed.keys.REQUEST_ID: "r-again"}, name="POST /again")
    if secret:
        e.log("1.1", at, {SECRET[0]: SECRET[1]}, body="deploy")
        e.span("1.1", at, {SECRET[0]: SECRET[1], seed.keys.REQUEST_ID: "r-secret"}, name="POST /deploy")
    e.write(con)


def _judged(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    report = run_gates(con, SCAN, SUBJECT)
    return [(r.id, r.status, r.reason, r.observed, r.evidence) for r in report.results]


def _kept(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute('SELECT Place, "Key", "Value", N FROM liveobs_secret_candidates '
                       'WHERE Release = ? ORDER BY ALL', [SUBJECT.release]).fetchall()


def _marks(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute("SELECT SpanMark, SpanCount, LogMark, LogCount FROM liveobs_secret_scans").fetchall()


def _forget(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DELETE FROM liveobs_secret_candidates")
    con.execute("DELETE FROM liveobs_secret_scans")


def _plant(con: duckdb.DuckDBPyConnection) -> None:
    """A candidate in the kept scan that no row holds: a run that reports it read the kept scan."""
    con.execute("INSERT INTO liveobs_secret_candidates VALUES ('shop', '1.1', 'production', 'log attribute', ?, ?, 1, "
                "'log record planted')", [PLANTED, SECRET[1]])


def test_a_repeat_run_after_more_rows_judges_as_a_scan_of_every_row() -> None:
    con = connect()
    _first(con)
    first = _judged(con)
    assert [r[1].value for r in first] == ["pass", "pass"]
    assert len(_marks(con)) == 1
    _more(con, secret=True)
    _more(con, secret=False, ids=20_000)
    repeat, kept = _judged(con), _kept(con)
    assert [r[1].value for r in repeat] == ["fail", "fail"]
    assert repr(SECRET[0]) in repeat[0][2]
    _forget(con)
    full = _judged(con)
    assert repeat == full
    assert kept == _kept(con)
    # The repeated values were counted once per row, in the rows scanned first and in those added since.
    assert any(key == seed.keys.SESSION_ID and value == "s-1" and n >= 3 for _, key, value, n in kept)


def test_a_repeat_run_reads_the_kept_scan_not_the_rows() -> None:
    con = connect()
    _first(con)
    _judged(con)
    _plant(con)
    planted = _judged(con)
    assert planted[0][1].value == "fail"
    assert repr(PLANTED) in planted[0][2]
    # More rows: the planted candidate stays (the rows below the marks are not read again).
    _more(con, secret=False)
    assert repr(PLANTED) in _judged(con)[0][2]


def test_a_changed_rule_set_scans_every_row_again() -> None:
    con = connect()
    _first(con)
    _judged(con)
    _plant(con)
    con.execute("UPDATE liveobs_secret_scans SET Rules = 'older rules'")
    assert [r[1].value for r in _judged(con)] == ["pass", "pass"]
    assert all(key != PLANTED for _, key, _, _ in _kept(con))


def test_rows_deleted_below_the_marks_make_the_next_run_scan_every_row() -> None:
    con = connect()
    _first(con)
    _more(con, secret=True)
    _judged(con)
    _plant(con)
    # Rows deleted without retention: the count below the mark no longer matches.
    con.execute("DELETE FROM otel_logs WHERE Body = 'deploy'")
    after = _judged(con)
    assert repr(PLANTED) not in after[0][2]
    _forget(con)
    assert _judged(con) == after


def test_retention_forgets_the_kept_scans_when_it_deletes_spans_or_logs() -> None:
    con = connect()
    _first(con)
    _judged(con)
    assert _marks(con)
    Retention(con.cursor(), max_age=None, max_bytes=None).run_once()
    assert _marks(con), "a pass that deletes nothing keeps them"
    now = int((seed.START + timedelta(days=30)).timestamp() * 1e9)
    deleted = Retention(con.cursor(), max_age=24 * 3600.0, max_bytes=None).run_once(now_ns=now)
    assert deleted.get("otel_traces")
    assert _marks(con) == []
    assert con.execute("SELECT count(*) FROM liveobs_secret_candidates").fetchone() == (0,)


def test_a_read_only_store_uses_the_kept_scan_and_keeps_nothing_new(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    con = connect(path)
    _first(con)
    _judged(con)
    marks = _marks(con)
    _more(con, secret=True)
    con.close()
    reader = duckdb.connect(str(path), read_only=True)
    from_kept = _judged(reader)
    assert _marks(reader) == marks
    reader.close()
    con = connect(path)
    _forget(con)
    con.close()
    reader = duckdb.connect(str(path), read_only=True)
    assert _judged(reader) == from_kept
    assert from_kept[0][1].value == "fail"
    assert _marks(reader) == []
    reader.close()


def test_a_time_window_scans_its_rows_and_leaves_the_kept_scan_alone() -> None:
    con = connect()
    _first(con)
    _judged(con)
    _plant(con)
    marks = _marks(con)
    windowed = Subject(service="shop", release="1.1", since=seed.START, until=seed.START + timedelta(days=1))
    (result,) = run_gates(con, "observability.secret_scan", windowed).results
    assert result.status.value == "pass"
    assert _marks(con) == marks


def test_each_release_keeps_its_own_scan() -> None:
    con = connect()
    _first(con)
    _judged(con)
    older = Subject(service="shop", release="1.0")
    (before,) = run_gates(con, "observability.secret_scan", older).results
    assert sorted(r[0] for r in con.execute("SELECT Release FROM liveobs_secret_scans").fetchall()) == ["1.0", "1.1"]
    con.execute("INSERT INTO liveobs_secret_candidates VALUES ('shop', '1.0', 'production', 'log attribute', ?, ?, 1, "
                "'log record planted')", [PLANTED, SECRET[1]])
    assert [r[1].value for r in _judged(con)] == ["pass", "pass"]
    (after,) = run_gates(con, "observability.secret_scan", older).results
    assert before.status.value == "pass"
    assert after.status.value == "fail"
    assert repr(PLANTED) in after.reason


def test_a_store_without_the_kept_scan_tables_scans_every_row() -> None:
    con = connect()
    _first(con)
    _more(con, secret=True)
    full = _judged(con)
    con.execute("DROP TABLE liveobs_secret_scans")
    con.execute("DROP TABLE liveobs_secret_candidates")
    assert _judged(con) == full
