"""``liveobs clickhouse init`` on chdb: liveobs's tables and views over the exporter's, backfill, and re-runs.

The index the views and the backfill build from the exporter's tables must equal what
``liveobs collect`` builds in DuckDB from the same OTLP input.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ch_corpus import otlp_input
from ch_loader import load_clickhouse, load_duckdb
from ch_stores import chdb_url, create_exporter_tables
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.conventions import error_fingerprint
from liveobs.correlator._rollups import fold_spans
from liveobs.correlator.stores import PASSWORD_FILE_ENV, Store, open_store
from liveobs.correlator.stores._chinit import init_plan, run_init
from liveobs.correlator.stores._chmirror import liveobs_tables
from liveobs.correlator.stores._chschema import SCHEMA_VERSION, fingerprint_sql

HOUR_NS = 3_600_000_000_000
CORRELATION = ("epoch_ns(\"Timestamp\")", "toUnixTimestamp64Nano(Timestamp)",
               "Signal, ServiceName, ServiceVersion, TraceId, SpanId, EventId, SessionId, RequestId, RouteId, "
               "ConnectionId, EventName, ErrorType")
# The DuckDB writer stores error times at microseconds (they pass through Python datetimes), so both
# sides are compared at microseconds.
ERRORS = ("epoch_us(\"Timestamp\")", "intDiv(toUnixTimestamp64Nano(Timestamp), 1000)",
          "Source, ServiceName, ServiceVersion, Environment, ErrorType, Fingerprint, Message, TraceId, SpanId, "
          "EventId, SessionId, RequestId, RouteId")


def rows(store: Store, table: str, spec: tuple[str, str, str]) -> list[tuple[Any, ...]]:
    time_expr = spec[0] if store.engine == "duckdb" else spec[1]
    final = " FINAL" if store.engine == "clickhouse" else ""
    return sorted(store.query(f"SELECT {time_expr}, {spec[2]} FROM {table}{final}"), key=repr)


def init(store: Store, **options: Any) -> Any:
    batch_rows = options.pop("batch_rows", 1_000_000)
    progress = options.pop("progress", None)
    return run_init(store, init_plan(store, **options), batch_rows=batch_rows, progress=progress)


@pytest.fixture(scope="module")
def duckdb_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The corpus through ``liveobs collect`` into DuckDB: the index the ClickHouse side must equal."""
    base = time.time_ns() - 5 * HOUR_NS
    path = tmp_path_factory.mktemp("reference") / "store.duckdb"
    load_duckdb(path, otlp_input(base))
    return path, base


def _reference(path: Path, table: str, spec: tuple[str, str, str]) -> list[tuple[Any, ...]]:
    with open_store(path) as duck:
        return rows(duck, table, spec)


def test_backfill_indexes_what_the_exporter_already_holds_as_duckdb_does(
    exporter_store: Store, duckdb_reference: tuple[Path, int]
) -> None:
    path, base = duckdb_reference
    load_clickhouse(exporter_store, otlp_input(base))
    report = init(exporter_store)
    assert {f.feed: f.already_done for f in report.feeds} == dict.fromkeys(
        ["liveobs_correlation_spans_mv", "liveobs_errors_spans_mv", "liveobs_releases_mv",
         "liveobs_correlation_logs_mv", "liveobs_errors_logs_mv"], False)
    assert rows(exporter_store, "liveobs_correlation", CORRELATION) == _reference(path, "liveobs_correlation", CORRELATION)
    assert rows(exporter_store, "liveobs_errors", ERRORS) == _reference(path, "liveobs_errors", ERRORS)


def test_views_index_collector_inserts_as_they_arrive(exporter_store: Store, duckdb_reference: tuple[Path, int]) -> None:
    path, base = duckdb_reference
    report = init(exporter_store)
    assert all(f.rows == 0 for f in report.feeds)
    assert "liveobs_correlation_spans_mv" in exporter_store.layout.liveobs_views
    load_clickhouse(exporter_store, otlp_input(base))
    assert rows(exporter_store, "liveobs_correlation", CORRELATION) == _reference(path, "liveobs_correlation", CORRELATION)
    assert rows(exporter_store, "liveobs_errors", ERRORS) == _reference(path, "liveobs_errors", ERRORS)
    releases = exporter_store.query("SELECT ServiceName, Environment, Release, min(FirstSeen) <= max(LastSeen) "
                                    "FROM liveobs_releases GROUP BY ALL ORDER BY ALL")
    assert releases == [("billing", "production", "7.0.0", True), ("shop", "production", "1.4.2", True)]


def test_init_twice_adds_nothing(exporter_store: Store) -> None:
    load_clickhouse(exporter_store, otlp_input(time.time_ns() - HOUR_NS, seed=5))
    first = init(exporter_store)
    counts = [exporter_store.query(f"SELECT count() FROM {t}")[0][0] for t in ("liveobs_correlation", "liveobs_errors")]
    assert counts == [6, 3]
    second = init(exporter_store)
    assert second.created == []
    assert all(f.already_done and f.rows == 0 for f in second.feeds)
    assert [exporter_store.query(f"SELECT count() FROM {t}")[0][0]
            for t in ("liveobs_correlation", "liveobs_errors")] == counts
    # Every liveobs table and view of the DuckDB store (the bookkeeping aside) exists on ClickHouse too.
    assert {name for name, _ in liveobs_tables()} <= set(first.created)
    # and besides them only the five views and init's own bookkeeping (backfill state, schema version).
    assert len(first.created) == len(liveobs_tables()) + 5 + 2
    assert exporter_store.query("SELECT Version FROM liveobs_clickhouse_schema") == [(SCHEMA_VERSION,)]


def test_release_facts_equal_what_duckdb_retention_folds(
    exporter_store: Store, duckdb_reference: tuple[Path, int], tmp_path: Path
) -> None:
    path, base = duckdb_reference
    load_clickhouse(exporter_store, otlp_input(base))
    init(exporter_store)
    copy = tmp_path / "folded.duckdb"
    shutil.copy(path, copy)
    con = duckdb.connect(str(copy))
    try:
        fold_spans(con, time.time_ns())
        folded = sorted(con.execute(
            "SELECT ServiceName, Environment, Release, epoch_ns(FirstSeen), epoch_ns(LastSeen), Spans, Requests, "
            "epoch_ns(FirstRequest), epoch_ns(LastRequest) FROM liveobs_releases").fetchall())
    finally:
        con.close()
    indexed = exporter_store.query(
        "SELECT ServiceName, Environment, Release, toUnixTimestamp64Nano(min(FirstSeen)), "
        "toUnixTimestamp64Nano(max(LastSeen)), sum(Spans), sum(Requests), toUnixTimestamp64Nano(min(FirstRequest)), "
        "toUnixTimestamp64Nano(max(LastRequest)) FROM liveobs_releases GROUP BY ALL ORDER BY ALL")
    assert folded
    assert sorted(indexed) == folded


def test_backfill_runs_in_bounded_batches_with_progress_and_resumes(exporter_store: Store) -> None:
    start = time.time_ns() - 10 * HOUR_NS
    for hour in range(6):
        load_clickhouse(exporter_store, otlp_input(start + hour * HOUR_NS, seed=10 + hour))
    seen: list[tuple[str, int, int]] = []

    def stop_after_two(view: str, done: int, total: int) -> None:
        seen.append((view, done, total))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        init(exporter_store, batch_rows=10, progress=stop_after_two)
    assert seen == [("liveobs_correlation_spans_mv", 10, 30), ("liveobs_correlation_spans_mv", 20, 30)]
    report = init(exporter_store, batch_rows=10)
    spans = next(f for f in report.feeds if f.feed == "liveobs_correlation_spans_mv")
    assert (spans.rows, spans.batches, spans.already_done) == (10, 1, False)
    logs = next(f for f in report.feeds if f.feed == "liveobs_correlation_logs_mv")
    assert (logs.rows, logs.batches) == (18, 2)
    assert exporter_store.query("SELECT count() FROM liveobs_correlation WHERE Signal = 'span'") == [(6 * 3,)]
    assert exporter_store.query("SELECT count() FROM liveobs_correlation WHERE Signal = 'log'") == [(6 * 3,)]


def test_ttl_follows_the_exporter_unless_given(chdb_factory: Callable[..., Store]) -> None:
    store = chdb_factory()
    from liveobs.correlator.stores._exporter import exporter_ddl

    for statement in exporter_ddl("otel", ttl_days=30):
        store.execute(statement)
    store.refresh_layout()
    ttl = next(s.sql for s in init_plan(store).statements if s.name == "liveobs_correlation")
    assert "TTL toDateTime(Timestamp) + toIntervalDay(30)" in ttl
    none = next(s.sql for s in init_plan(store, ttl_days=0).statements if s.name == "liveobs_errors")
    assert "TTL" not in none
    init(store, ttl_days=7)
    query = store.query("SELECT create_table_query FROM system.tables WHERE name = 'liveobs_errors'")[0][0]
    assert "toIntervalDay(7)" in query


def test_legacy_logs_table_without_event_name_is_indexed(chdb_factory: Callable[..., Store]) -> None:
    store = chdb_factory()
    create_exporter_tables(store, layout="legacy", metric_time="DateTime")
    init(store)
    load_clickhouse(store, otlp_input(time.time_ns(), seed=7))
    logs = store.query("SELECT EventName, Signal FROM liveobs_correlation WHERE Signal = 'log' ORDER BY Timestamp")
    assert logs == [(None, "log"), (None, "log"), (None, "log")]
    browser = store.query("SELECT count() FROM liveobs_errors WHERE Source = 'browser'")
    assert browser == [(0,)]  # the report is named only by the missing EventName column


@pytest.mark.parametrize("message", [
    "cart 42 has no item 'sku-9'", 'user "bob" failed at 0x7ffe12 with id 3f2a9c1d7e and deadbeefcafe',
    "uuid 123e4567-e89b-12d3-a456-426614174000 gone", "ulid 01HZXC5V7N8W9Q2R3T4Y5V6W7X here",
    "took  12.5ms\n\tretry -3 1e5 x", None, "", "  spaced   out  ", "x" * 3000, "naïve 12 café", "a-1 b+2 c_3 d4",
])
def test_sql_fingerprint_equals_the_python_rule(exporter_store: Store, message: str | None) -> None:
    sql = f"SELECT {fingerprint_sql('{s:String}', '{c:String}', '{m:Nullable(String)}')}"
    got = exporter_store.query(sql, {"s": "shop", "c": "KeyError", "m": message})[0][0]
    assert got == error_fingerprint("shop", "KeyError", message)


# --- the command ------------------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def test_cli_init_creates_backfills_and_reports(tmp_path: Path) -> None:
    with open_store(chdb_url(tmp_path / "ch"), create=True) as store:
        create_exporter_tables(store)
        load_clickhouse(store, otlp_input(time.time_ns() - HOUR_NS, seed=20))
    result = run("--db", chdb_url(tmp_path / "ch"), "clickhouse", "init", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "liveobs_correlation" in data["created"]
    assert {f["view"]: f["rows"] for f in data["backfill"]}["liveobs_correlation_spans_mv"] == 5
    again = run("--db", chdb_url(tmp_path / "ch"), "clickhouse", "init")
    assert again.exit_code == 0, again.output
    assert "(all existed)" in again.stdout
    assert again.stdout.count("already backfilled") == 5


def test_cli_dry_run_prints_cluster_ddl_and_changes_nothing(tmp_path: Path) -> None:
    with open_store(chdb_url(tmp_path / "ch"), create=True) as store:
        create_exporter_tables(store)
    result = run("--db", chdb_url(tmp_path / "ch"), "clickhouse", "init", "--dry-run", "--cluster", "logs",
                 "--replicated", "--distributed", "--ttl-days", "14")
    assert result.exit_code == 0, result.output
    ddl = result.stdout
    assert "CREATE TABLE IF NOT EXISTS `otel`.`liveobs_correlation_local` ON CLUSTER `logs`" in ddl
    assert "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in ddl
    assert "ENGINE = Distributed(`logs`, `otel`, `liveobs_correlation_local`, rand())" in ddl
    assert "TO `otel`.`liveobs_correlation_local`" in ddl
    assert "TTL toDateTime(Timestamp) + toIntervalDay(14)" in ddl
    assert ddl.count("CREATE MATERIALIZED VIEW") == 5
    with open_store(chdb_url(tmp_path / "ch")) as store:
        assert store.layout.liveobs_objects == frozenset()


def test_cli_refuses_duckdb_paths_password_urls_and_missing_exporter_tables(tmp_path: Path) -> None:
    duck = run("--db", str(tmp_path / "x.duckdb"), "clickhouse", "init")
    assert duck.exit_code == 2
    assert "is a DuckDB file" in duck.output
    secret = run("--db", "clickhouse://reader:hunter2@127.0.0.1:1/otel", "clickhouse", "init")
    assert secret.exit_code == 2
    assert PASSWORD_FILE_ENV in secret.output
    assert "hunter2" not in secret.output
    missing = run("--db", chdb_url(tmp_path / "absent"), "clickhouse", "init")
    assert missing.exit_code == 2
    assert "no chdb data folder" in missing.output
    assert not (tmp_path / "absent").exists()
    with open_store(chdb_url(tmp_path / "empty"), create=True):
        pass
    empty = run("--db", chdb_url(tmp_path / "empty"), "clickhouse", "init")
    assert empty.exit_code == 2
    assert "neither otel_traces nor otel_logs" in empty.output
    assert "Traceback" not in empty.output


def test_cli_names_an_unreachable_server_in_one_line(tmp_path: Path) -> None:
    result = run("--db", "clickhouse://reader@127.0.0.1:9/otel", "clickhouse", "init", "--dry-run",
                 env={"LIVEOBS_CLICKHOUSE_PASSWORD": "s3cret"})
    assert result.exit_code == 3
    assert "clickhouse://reader@127.0.0.1:9/otel" in result.output
    assert "s3cret" not in result.output


def test_liveobs_db_names_the_clickhouse_store(tmp_path: Path) -> None:
    with open_store(chdb_url(tmp_path / "ch"), create=True) as store:
        create_exporter_tables(store, layout="legacy")
    result = run("clickhouse", "init", "--dry-run", "--json", env={"LIVEOBS_DB": chdb_url(tmp_path / "ch")})
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["store"] == f"chdb://{tmp_path / 'ch'}?database=otel"
    views = [s for s in plan["statements"] if s.startswith("CREATE MATERIALIZED VIEW")]
    assert len(views) == 5
    assert not any("EventName, ''" in s for s in views)  # the legacy logs table has no EventName column


def test_init_upgrades_the_release_table_of_schema_version_1(exporter_store: Store) -> None:
    """A store initialised before the release counts: the table gains them, its view counts from then on."""
    exporter_store.execute(
        "CREATE TABLE liveobs_releases (ServiceName LowCardinality(String), Environment LowCardinality(String), "
        "Release String, FirstSeen SimpleAggregateFunction(min, DateTime64(9)), "
        "LastSeen SimpleAggregateFunction(max, DateTime64(9))) "
        "ENGINE = AggregatingMergeTree ORDER BY (ServiceName, Environment, Release)")
    exporter_store.execute(
        "CREATE MATERIALIZED VIEW liveobs_releases_mv TO liveobs_releases AS SELECT ServiceName, "
        "ResourceAttributes['deployment.environment.name'] AS Environment, ResourceAttributes['service.version'] "
        "AS Release, min(Timestamp) AS FirstSeen, max(Timestamp) AS LastSeen FROM otel_traces "
        "WHERE ResourceAttributes['service.version'] != '' GROUP BY ServiceName, Environment, Release")
    exporter_store.refresh_layout()
    built = init_plan(exporter_store)
    assert [s.kind for s in built.statements[:2]] == ["alter", "alter"]
    run_init(exporter_store, built)
    assert {"Spans", "Requests", "FirstRequest", "LastRequest"} <= set(exporter_store.layout.columns("liveobs_releases"))
    load_clickhouse(exporter_store, otlp_input(time.time_ns() - HOUR_NS, seed=5))
    spans = exporter_store.query("SELECT count() FROM otel_traces WHERE ResourceAttributes['service.version'] != ''")
    assert exporter_store.query("SELECT sum(Spans) FROM liveobs_releases") == spans
    assert init_plan(exporter_store).statements[0].kind != "alter"
