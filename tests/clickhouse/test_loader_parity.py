"""One OTLP input, filled both ways: the exporter's mapping into chdb and ``liveobs collect`` into DuckDB
hold the same rows, column by column, in every exporter table."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ch_compare import exporter_columns, read_both
from ch_corpus import otlp_input
from ch_loader import as_string, go_float, load_clickhouse, load_duckdb
from ch_stores import create_exporter_tables
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from liveobs.correlator.stores import METRIC_TABLES, Store, open_store

TABLES = ("otel_traces", "otel_logs", *METRIC_TABLES)


@pytest.mark.parametrize(
    ("number", "text"),
    [(1.0, "1"), (0.25, "0.25"), (-3.5, "-3.5"), (1e-7, "1e-7"), (1.5e-9, "1.5e-9"), (1e22, "1e+22"),
     (123456789.125, "123456789.125"), (1e20, "100000000000000000000"), (0.0, "0"), (2.5e-6, "0.0000025")],
)
def test_doubles_are_written_as_the_collector_writes_them(number: float, text: str) -> None:
    assert go_float(number) == text
    assert as_string(AnyValue(double_value=number)) == text


def test_maps_and_arrays_are_json_with_sorted_keys() -> None:
    from ch_corpus import value

    assert as_string(value({"z": 1, "a": [True, 2.0, "x"]})) == '{"a":[true,2,"x"],"z":1}'
    assert as_string(value(b"\x00\xff")) == "AP8="


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same input in a DuckDB store (through ``liveobs collect``) and a chdb folder (the exporter's way)."""
    root = tmp_path_factory.mktemp("parity")
    otlp = otlp_input(time.time_ns() - 3_600_000_000_000)
    load_duckdb(root / "store.duckdb", otlp)
    with open_store(f"chdb://{root / 'chdb'}", create=True) as store:
        create_exporter_tables(store)
        counts = load_clickhouse(store, otlp)
    assert counts == {"otel_traces": 5, "otel_logs": 3, "otel_metrics_gauge": 1, "otel_metrics_sum": 1,
                      "otel_metrics_histogram": 1, "otel_metrics_exp_histogram": 1, "otel_metrics_summary": 1}
    return {"duckdb": root / "store.duckdb", "chdb": root / "chdb"}


@pytest.mark.parametrize("table", TABLES)
def test_both_fillings_hold_the_same_rows(filled: dict[str, Path], table: str) -> None:
    with open_store(filled["duckdb"]) as duck, open_store(f"chdb://{filled['chdb']}") as clickhouse:
        columns = exporter_columns(clickhouse, table)
        duck_rows, ch_rows = read_both(duck, clickhouse, table, columns)
    assert len(duck_rows) == len(ch_rows) > 0
    names = list(columns)
    for duck_row, ch_row in zip(duck_rows, ch_rows, strict=True):
        differing = {n: (d, c) for n, d, c in zip(names, duck_row, ch_row, strict=True) if d != c}
        assert differing == {}


def test_trace_bounds_exist_on_both(filled: dict[str, Path]) -> None:
    with open_store(filled["duckdb"]) as duck, open_store(f"chdb://{filled['chdb']}") as clickhouse:
        duck_ids = {r[0] for r in duck.query("SELECT TraceId FROM otel_traces_trace_id_ts")}
        ch_ids = {r[0] for r in clickhouse.query("SELECT TraceId FROM otel_traces_trace_id_ts")}
        spans = {r[0] for r in duck.query("SELECT DISTINCT TraceId FROM otel_traces")}
    assert duck_ids == ch_ids == spans


def test_legacy_layout_takes_the_same_input(chdb_factory: Callable[..., Store]) -> None:
    store = chdb_factory()
    create_exporter_tables(store, layout="legacy", metric_time="DateTime")
    otlp = otlp_input(1_733_400_000_000_000_000, seed=2)
    counts = load_clickhouse(store, otlp)
    assert counts["otel_logs"] == 3
    rows = store.query("SELECT toUnixTimestamp(TimestampTime), toUnixTimestamp64Nano(Timestamp) FROM otel_logs")
    assert all(seconds == nanos // 1_000_000_000 for seconds, nanos in rows)
    assert store.query("SELECT toUnixTimestamp(TimeUnix) FROM otel_metrics_gauge") == [(1_733_400_000,)]
