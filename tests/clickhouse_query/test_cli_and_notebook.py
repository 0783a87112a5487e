"""``liveobs --db chdb://…`` and ``liveobs.correlator.open("chdb://…")`` answer as they do over the DuckDB file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import httpx
import pytest
from click.testing import CliRunner
from exporter_tables import copy_store, open_chdb

import liveobs.correlator as correlator
from liveobs.cli._root import main
from liveobs.correlator._ui_http import route
from liveobs.correlator._urlstore import UrlStore
from tests.waiting import readable


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


def test_the_web_view_pages_read_the_same_on_both_engines(stores: tuple[Any, str, str]) -> None:
    # Before any gate run is recorded: each engine records its own run, with its own id and time.
    made, duck, chdb = stores
    local = duckdb.connect(duck, read_only=True)
    fingerprint = local.execute("SELECT Fingerprint FROM liveobs_errors ORDER BY Fingerprint LIMIT 1").fetchone()
    session = local.execute("SELECT SessionId FROM liveobs_correlation WHERE SessionId IS NOT NULL "
                            "ORDER BY SessionId LIMIT 1").fetchone()
    assert fingerprint is not None
    assert session is not None
    paths = ["/incidents", f"/incidents/{fingerprint[0]}", f"/traces/{made.sample_failing_trace_id}",
             f"/sessions/{session[0]}", "/gates"]
    try:
        with correlator.open(chdb) as store:
            assert isinstance(store, UrlStore)
            for path in paths:
                on_duckdb, on_clickhouse = route(local.cursor(), path, {}), route(store.connection.cursor(), path, {})
                assert on_duckdb[0] == 200, path
                assert on_clickhouse == on_duckdb, path
    finally:
        local.close()


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


def test_liveobs_ui_serves_a_clickhouse_store(stores: tuple[Any, str, str]) -> None:
    made, _, chdb = stores
    env = {k: v for k, v in os.environ.items() if k not in ("LIVEOBS_TOKEN", "LIVEOBS_TOKEN_FILE")}
    # Started ignoring SIGINT, as a script's background job is: Ctrl-C still stops it.
    process = subprocess.Popen([sys.executable, "-m", "liveobs.cli", "--db", chdb, "ui"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert process.stdout is not None
        ready = readable(process.stdout, 60)
        line = process.stdout.readline() if ready else ""
        found = re.fullmatch(r"liveobs ui: (http://127\.0\.0\.1:\d+)/incidents\?key=(\S+)\n", line)
        assert found is not None, line
        with httpx.Client(timeout=30) as client:
            assert client.get(f"{found.group(1)}/incidents").status_code == 401
            listing = client.get(line.split(": ", 1)[1].strip(), follow_redirects=True)
            assert listing.status_code == 200
            page = client.get(f"{found.group(1)}/traces/{made.sample_failing_trace_id}")
            assert page.status_code == 200
            assert made.sample_failing_trace_id in page.text
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
