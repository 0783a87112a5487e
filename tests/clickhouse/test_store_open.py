"""open_store on ClickHouse (chdb) and DuckDB: one interface, and the exporter's layouts found by inspection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ch_stores import chdb_url, create_exporter_tables

from liveobs.correlator.stores import EXPORTER_TABLES, Store, StoreOpenError, StoreQueryError, open_store


def test_chdb_store_answers_bound_queries_with_column_names(exporter_store: Store) -> None:
    assert exporter_store.engine == "clickhouse"
    rows = exporter_store.query("SELECT {name:String} AS greeting, 1 + {n:UInt8} AS two",
                                {"name": "it's bound", "n": 1})
    assert rows == [("it's bound", 2)]
    assert rows.columns == ("greeting", "two")
    assert rows.dicts() == [{"greeting": "it's bound", "two": 2}]


def test_engine_errors_become_one_line_store_query_errors(exporter_store: Store) -> None:
    with pytest.raises(StoreQueryError, match=r"UNKNOWN_TABLE|Unknown table") as caught:
        exporter_store.query("SELECT * FROM no_such_table")
    assert "\n" not in str(caught.value)


def test_current_exporter_layout_is_detected(exporter_store: Store) -> None:
    layout = exporter_store.layout
    assert layout.missing_exporter_tables == ()
    assert layout.logs == "five_minutes"
    assert layout.logs_event_name is True
    assert set(layout.metric_time.values()) == {"DateTime64"}
    assert layout.time_kind("otel_traces_trace_id_ts", "Start") == "DateTime"
    assert layout.columns("otel_traces")["Events.Attributes"] == "Array(Map(LowCardinality(String), String))"
    assert layout.liveobs_objects == frozenset()


def test_legacy_exporter_layout_is_detected(chdb_factory: Callable[..., Store]) -> None:
    store = chdb_factory()
    create_exporter_tables(store, layout="legacy", metric_time="DateTime")
    layout = store.layout
    assert layout.logs == "timestamp_time"
    assert layout.logs_event_name is False
    assert set(layout.metric_time.values()) == {"DateTime"}
    assert layout.time_kind("otel_traces_trace_id_ts", "End") == "DateTime64"
    assert layout.describe()["logs"] == "timestamp_time"


def test_data_survives_reopening_the_folder(tmp_path: Path) -> None:
    with open_store(chdb_url(tmp_path / "ch"), create=True) as store:
        create_exporter_tables(store)
        store.execute("INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName) "
                      "VALUES (now64(9), {t:String}, {s:String}, 'svc')", {"t": "ab" * 16, "s": "cd" * 8})
    with open_store(chdb_url(tmp_path / "ch")) as again:
        assert again.query("SELECT TraceId, ServiceName FROM otel_traces") == [("ab" * 16, "svc")]
        assert again.query("SELECT TraceId FROM otel_traces_trace_id_ts") == [("ab" * 16,)]


def test_missing_folder_or_database_is_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="no chdb data folder") as caught:
        open_store(chdb_url(tmp_path / "absent"))
    assert caught.value.missing
    with open_store(chdb_url(tmp_path / "ch"), create=True):
        pass
    with pytest.raises(StoreOpenError, match="no database 'other'") as caught:
        open_store(chdb_url(tmp_path / "ch", "other"))
    assert caught.value.missing


def test_a_second_chdb_folder_in_one_process_is_a_clear_error(tmp_path: Path) -> None:
    with open_store(chdb_url(tmp_path / "one"), create=True), pytest.raises(StoreOpenError, match="one data folder per process"):
        open_store(chdb_url(tmp_path / "two"), create=True)


def test_duckdb_path_opens_behind_the_same_interface(tmp_path: Path) -> None:
    path = tmp_path / "liveobs.duckdb"
    with pytest.raises(StoreOpenError) as caught:
        open_store(path)
    assert caught.value.missing
    with open_store(path, create=True) as store:
        assert store.engine == "duckdb"
        assert store.query("SELECT $x::INTEGER + 1 AS y", {"x": 41}) == [(42,)]
        assert store.query("SELECT 1 AS one").columns == ("one",)
        layout = store.layout
    assert layout.logs == "duckdb"
    assert layout.missing_exporter_tables == ()
    assert set(EXPORTER_TABLES) <= set(layout.tables)
    assert {"liveobs_correlation", "liveobs_errors", "liveobs_gate_runs"} <= layout.liveobs_objects
    assert layout.time_kind("otel_metrics_gauge", "TimeUnix") == "TIMESTAMP_NS"
