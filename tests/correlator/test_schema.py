"""Numbered migrations: empty to latest, recorded, and re-applying is a no-op."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from liveobs.correlator._db import StoreBusyError, connect
from liveobs.correlator._schema import MIGRATIONS, applied_versions, latest_version, migrate

EXPORTER_TABLES = {
    "otel_traces",
    "otel_traces_trace_id_ts",
    "otel_logs",
    "otel_metrics_gauge",
    "otel_metrics_sum",
    "otel_metrics_histogram",
    "otel_metrics_exp_histogram",
    "otel_metrics_summary",
}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_empty_store_migrates_to_latest_and_records_it(tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    assert applied_versions(con) == [m.version for m in MIGRATIONS]
    assert applied_versions(con)[-1] == latest_version()
    assert EXPORTER_TABLES | {"liveobs_correlation", "liveobs_errors", "liveobs_migrations"} <= _tables(con)


def test_reapplying_migrations_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    connect(path).close()
    con = connect(path)
    assert migrate(con) == []
    assert con.execute("SELECT count(*) FROM liveobs_migrations").fetchone() == (len(MIGRATIONS),)


def test_exporter_columns_keep_their_names_and_nested_reads() -> None:
    con = connect()
    cols = [r[0] for r in con.execute("DESCRIBE otel_logs").fetchall()]
    assert cols[:4] == ["Timestamp", "TraceId", "SpanId", "TraceFlags"]
    assert "EventName" in cols
    assert "LogAttributes" in cols
    con.execute(
        "INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanAttributes, Events) VALUES "
        "(TIMESTAMP_NS '2026-01-01 00:00:00.000000001', 't', 's', '', MAP {'session.id': 'x'}, "
        "{'Timestamp': [TIMESTAMP_NS '2026-01-01'], 'Name': ['exception'], 'Attributes': [MAP {'error.type': 'KeyError'}]})"
    )
    row = con.execute("SELECT SpanAttributes['session.id'], Events.Name[1], Events.Attributes[1]['error.type'] FROM otel_traces").fetchone()
    assert row == ("x", "exception", "KeyError")


def test_a_second_process_gets_a_clear_busy_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,sys,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreBusyError, match="held by another process"):
            connect(path)
    finally:
        holder.communicate(timeout=30)


def test_each_older_store_migrates_to_latest_keeping_its_rows(tmp_path: Path) -> None:
    for upto in range(1, len(MIGRATIONS)):
        path = tmp_path / f"v{upto}.duckdb"
        old = duckdb.connect(str(path))
        old.execute("CREATE TABLE liveobs_migrations (Version INTEGER PRIMARY KEY, Name VARCHAR NOT NULL, "
                    "AppliedAt TIMESTAMP NOT NULL DEFAULT current_timestamp)")
        for migration in MIGRATIONS[:upto]:
            old.execute(migration.sql)
            old.execute("INSERT INTO liveobs_migrations (Version, Name) VALUES (?, ?)", [migration.version, migration.name])
        old.execute("INSERT INTO otel_logs (Timestamp, Body) VALUES (TIMESTAMP_NS '2026-01-01', 'kept')")
        old.execute("INSERT INTO otel_traces_trace_id_ts VALUES ('ab', TIMESTAMP_NS '2026-01-01', TIMESTAMP_NS '2026-01-02')")
        old.close()
        con = connect(path)
        assert applied_versions(con) == [m.version for m in MIGRATIONS]
        assert con.execute("SELECT Body FROM otel_logs").fetchall() == [("kept",)]
        assert "liveobs_ingest_ledger" in _tables(con)
        # The trace bounds keep their rows, and take a second row per trace with an index instead of a key.
        con.execute("INSERT INTO otel_traces_trace_id_ts VALUES ('ab', TIMESTAMP_NS '2025-12-31', TIMESTAMP_NS '2026-01-01')")
        assert con.execute('SELECT min("Start")::VARCHAR, max("End")::VARCHAR FROM otel_traces_trace_id_ts'
                           " WHERE TraceId = 'ab'").fetchone() == ("2025-12-31 00:00:00", "2026-01-02 00:00:00")
        assert con.execute("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'otel_traces_trace_id_ts'"
                           ).fetchone() == (1,)
        con.close()
