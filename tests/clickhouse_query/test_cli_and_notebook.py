"""``liveobs --db chdb://…`` and ``liveobs.correlator.open("chdb://…")`` answer as they do over the DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from exporter_tables import copy_store, open_chdb

import liveobs.correlator as correlator
from liveobs.cli._root import main
from liveobs.correlator._urlstore import UrlStore


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, store_generator: ModuleType) -> tuple[Any, str, str]:
    folder = tmp_path_factory.mktemp("cli")
    made = store_generator.generate(folder / "store.duckdb", rows=3_000, seed=5)
    duck = duckdb.connect(str(made.path), read_only=True)
    store = open_chdb(folder / "chdb")
    copy_store(duck, store)
    duck.close()
    store.close()
    return made, str(made.path), f"chdb://{folder / 'chdb'}?database=otel"


def _run(db: str, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--db", db, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_trace_and_incidents_print_the_same_json(stores: tuple[Any, str, str]) -> None:
    made, duck, chdb = stores
    for args in (["trace", "--event-id", made.sample_failing_event_id, "--json"],
                 ["trace", "--request-id", made.sample_failing_request_id, "--json"],
                 ["incidents", "--json"]):
        on_duckdb, on_clickhouse = _run(duck, *args), _run(chdb, *args)
        assert on_clickhouse.exit_code == on_duckdb.exit_code == 0
        assert json.loads(on_clickhouse.stdout) == json.loads(on_duckdb.stdout)


def test_check_judges_the_same_and_records_the_run_in_clickhouse(stores: tuple[Any, str, str]) -> None:
    _, duck, chdb = stores
    on_duckdb, on_clickhouse = _run(duck, "check", "all", "--json"), _run(chdb, "check", "all", "--json")
    assert on_clickhouse.exit_code == on_duckdb.exit_code
    d, c = json.loads(on_duckdb.stdout), json.loads(on_clickhouse.stdout)
    assert [(r["id"], r["status"], r["reason"]) for r in c["checks"]] == [
        (r["id"], r["status"], r["reason"]) for r in d["checks"]]
    assert "not recorded" not in on_clickhouse.stderr
    with correlator.open(chdb) as store:
        assert isinstance(store, UrlStore)
        runs = store.sql("SELECT Selection, count(*) FROM liveobs_gate_runs GROUP BY Selection")
        assert list(runs) == [("all", 1)]


def test_the_notebook_api_opens_a_clickhouse_url(stores: tuple[Any, str, str]) -> None:
    made, duck, chdb = stores
    with correlator.open(chdb) as store, correlator.open(Path(duck)) as local:
        assert store.engine == "clickhouse"
        assert store.trace(event_id=made.sample_failing_event_id) == local.trace(event_id=made.sample_failing_event_id)
        assert store.incidents(limit=3) == local.incidents(limit=3)
        rows = store.sql("SELECT count(*) AS spans FROM otel_traces WHERE ServiceName = $service", {"service": "shop"})
        assert rows.columns == ("spans",)
        spans = local.connection.cursor().execute("SELECT count(*) FROM otel_traces WHERE ServiceName = 'shop'")
        assert rows[0][0] == spans.fetchall()[0][0] > 0
        assert len(store.spans(made.sample_failing_trace_id)) > 0
