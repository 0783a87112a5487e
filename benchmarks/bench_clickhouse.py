"""ClickHouse benchmark: ``trace --event-id`` and every gate over ~10M spans in chdb, DuckDB side by side.

The data is ``gen_store.generate``'s (the DuckDB benchmarks' generator), decorated with the
security evidence ``bench_gates`` adds, so both engines hold the same rows. Its tables are
exported once to Parquet by DuckDB and loaded by ClickHouse itself (``INSERT … SELECT FROM
file()``) into the exporter's tables, in two databases of one chdb folder:

* ``otel``: ``liveobs clickhouse init`` ran first, so its materialized views index the rows as
  they are inserted (the correlation index and error occurrences, as a Collector's inserts are);
* ``bare``: the exporter's tables only; liveobs's tables are read as the SELECTs their views run.

Prints, per store, the engine time of a trace lookup by event id (the query functions on an
open store, as ``liveobs trace`` runs them) at p50 and p95, and every gate's total and slowest
checks. Goal: p95 at most 50 ms with the correlation index.

    python benchmarks/bench_clickhouse.py [--rows 17500000] [--lookups 200] [--bare-lookups 10]
    python benchmarks/bench_clickhouse.py --native-spans 10000000 --with-duckdb [--skip-gates] [--profile]

With ``--native-spans`` the indexed store is also measured with its projections left unread
(``trace_without_projections``: the correlation index as it was before them), and
``--with-duckdb`` adds the DuckDB store of ``--rows`` (generated once) in the same run; ``--profile``
times each statement of the lookups (which ones dominate). On a shared machine compare figures of one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from liveobs.correlator._sqlcursor import ClickHouseCursor, cursor_for, derived_tables, store_runner
from liveobs.correlator._trace import trace
from liveobs.correlator.gates import GATES, Manifest, Subject, run_gates
from liveobs.correlator.stores import Store, open_store
from liveobs.correlator.stores._chinit import add_projections, init_plan, run_init
from liveobs.correlator.stores._exporter import exporter_ddl

HERE = Path(__file__).resolve().parent
VAR = HERE.parent / "var" / "bench"
# Exporter tables and their Nested columns, as DuckDB keeps them (a struct of lists).
TABLES = {"otel_traces": ("Events", "Links"), "otel_logs": ()}


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"liveobs_bench_{name}", HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def duckdb_store(rows: int, seed: int) -> Path:
    db = VAR / f"store-ch-{rows}-{seed}.duckdb"
    if not db.exists():
        began = time.perf_counter()
        summary = _module("gen_store").generate(db, rows=rows, seed=seed)
        _module("bench_gates").decorate(db)
        print(f"generated {summary.spans:,} spans and {summary.logs:,} logs in {time.perf_counter() - began:.0f} s",
              flush=True)
    return db


def export_parquet(db: Path) -> Path:
    """Each exporter table as Parquet, Nested fields as the exporter's ``Name.Field`` columns."""
    folder = db.with_suffix(".parquet")
    folder.mkdir(exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for table, nested in TABLES.items():
            target = folder / f"{table}.parquet"
            if target.exists():
                continue
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [table]).fetchall()]
            parts = []
            for column in columns:
                if column in nested:
                    fields = con.execute(f'SELECT struct_keys(any_value("{column}")) FROM {table} '
                                         f'WHERE "{column}" IS NOT NULL').fetchone()
                    for field in (fields[0] if fields and fields[0] else ()):
                        parts.append(f'coalesce("{column}"."{field}", []) AS "{column}.{field}"')
                else:
                    parts.append(f'"{column}"')
            con.execute(f"COPY (SELECT {', '.join(parts)} FROM {table}) TO '{target}' (FORMAT parquet)")
    finally:
        con.close()
    return folder


def chdb_store(folder: Path, parquet: Path, database: str, indexed: bool) -> Store:
    fresh = not (folder / "data" / database).exists() and not (folder / "metadata" / database).exists()
    store = open_store(f"chdb://{folder}?database={database}", create=True)
    if store.layout.has("otel_traces") and store.query("SELECT count() FROM otel_traces")[0][0] > 0:
        return store
    del fresh
    for statement in exporter_ddl(store.database, layout="current"):
        store.execute(statement)
    store.refresh_layout()
    if indexed:
        run_init(store, init_plan(store, ttl_days=0))
    for table in TABLES:
        began = time.perf_counter()
        names = [r[0] for r in store.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "AND default_kind NOT IN ('ALIAS', 'MATERIALIZED')", {"db": database, "t": table})]
        source = f"file('{parquet / (table + '.parquet')}', Parquet)"
        present = {r[0] for r in store.query(f"DESCRIBE TABLE {source}")}
        cols = ", ".join(f"`{n}`" for n in names if n in present)
        store.execute(f"INSERT INTO {database}.{table} ({cols}) SELECT {cols} FROM {source} "
                      "SETTINGS session_timezone = 'UTC'")
        print(f"chdb {database}.{table}: loaded in {time.perf_counter() - began:.0f} s", flush=True)
    store.refresh_layout()
    return store


# 10M spans generated by ClickHouse itself, in the shape gen_store gives one live event: a server span
# with the event's ids (event, session, request, route, connection, event name), three child spans, one log
# line with the same ids; 3% of the events fail (Error status, an exception event, error.type). Events are
# 40 ms apart over two releases; 40 events make a session. No page renders, browser reports or metrics.
_NATIVE_SPANS = """
INSERT INTO {db}.otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`)
SELECT fromUnixTimestamp64Nano(toInt64({base:Int64} + e * 40000000 + c * 1000000)),
       lower(hex(MD5(toString(e)))), substring(lower(hex(MD5(concat(toString(e), '/', toString(c))))), 1, 16),
       if(c = 0, '', substring(lower(hex(MD5(concat(toString(e), '/0')))), 1, 16)),
       if(c = 0, concat('live.event ', name), ['db.query', 'render', 'cache.get'][c]),
       if(c = 0, 'Server', if(c = 1, 'Client', 'Internal')), 'shop',
       map('service.name', 'shop', 'service.version', if(e < {events:Int64} / 2, '1.4.0', '1.5.0'),
           'deployment.environment.name', 'production'),
       'liveobs.sdk',
       if(c = 0, mapConcat(map('liveobs.event.id', event_id, 'session.id', concat('s', toString(intDiv(e, 40))),
                               'liveobs.request.id', concat('r', toString(intDiv(e, 40))),
                               'liveobs.route.id', 'cart.view', 'http.route', '/cart',
                               'liveobs.connection.id', concat('c', toString(intDiv(e, 40))),
                               'liveobs.event.name', name),
                           if(failed, map('error.type', 'KeyError', 'liveobs.error.fingerprint', 'c9cb5fa6be59351e'),
                              map())),
          map('db.system', 'postgresql')),
       if(c = 0, 12000000 + (e % 7) * 1000000, 2000000), if(c = 0 AND failed, 'Error', 'Unset'),
       if(c = 0 AND failed, 'KeyError', ''),
       if(c = 0 AND failed, [fromUnixTimestamp64Nano(toInt64({base:Int64} + e * 40000000 + 11000000))], []),
       if(c = 0 AND failed, ['exception'], []),
       if(c = 0 AND failed, [map('exception.type', 'KeyError', 'exception.message', 'cart item is missing',
                                 'exception.stacktrace', 'Traceback ...\nKeyError: sku')], [])
FROM (SELECT number AS e, concat('ev-', lower(hex(MD5(concat('event', toString(number)))))) AS event_id,
             ['add_to_cart', 'remove_item', 'search', 'save'][1 + number % 4] AS name, number % 33 = 7 AS failed
      FROM numbers({events:Int64})) AS events
ARRAY JOIN [0, 1, 2, 3] AS c
"""
_NATIVE_LOGS = """
INSERT INTO {db}.otel_logs (Timestamp, TraceId, SpanId, SeverityText, SeverityNumber, ServiceName, Body,
    ResourceAttributes, ScopeName, LogAttributes, EventName)
SELECT fromUnixTimestamp64Nano(toInt64({base:Int64} + number * 40000000 + 500000)), lower(hex(MD5(toString(number)))),
       substring(lower(hex(MD5(concat(toString(number), '/0')))), 1, 16), 'INFO', 9, 'shop', 'live event received',
       map('service.name', 'shop', 'service.version', if(number < {events:Int64} / 2, '1.4.0', '1.5.0'),
           'deployment.environment.name', 'production'),
       'app', map('liveobs.event.id', concat('ev-', lower(hex(MD5(concat('event', toString(number)))))),
                  'session.id', concat('s', toString(intDiv(number, 40)))), ''
FROM numbers({events:Int64})
"""


def native_store(folder: Path, spans: int, indexed: bool) -> Store:
    """``spans`` spans (and a log line per event) generated by ClickHouse, indexed by init's views if asked."""
    database = "native" if indexed else "native_bare"
    store = open_store(f"chdb://{folder}?database={database}", create=True)
    if store.layout.has("otel_traces") and store.query("SELECT count() FROM otel_traces")[0][0] > 0:
        if indexed:
            added = add_projections(store)  # a folder made before the index had its projections
            if added:
                print(f"chdb {database}: added {', '.join(added)}", flush=True)
        return store
    for statement in exporter_ddl(store.database, layout="current"):
        store.execute(statement)
    store.refresh_layout()
    if indexed:
        run_init(store, init_plan(store, ttl_days=0))
    params = {"base": 1_767_600_000_000_000_000, "events": spans // 4}
    for sql in (_NATIVE_SPANS, _NATIVE_LOGS):
        began = time.perf_counter()
        store.execute(sql.replace("{db}", database), params)
        print(f"chdb {database}: generated in {time.perf_counter() - began:.0f} s", flush=True)
    store.refresh_layout()
    return store


def without_projections(store: Store) -> Any:
    """A cursor whose queries never read the correlation index's projections (the index as it was before)."""
    run = store_runner(store)
    return ClickHouseCursor(lambda sql, params: run(sql.replace(" SETTINGS ", " SETTINGS optimize_use_projections = 0, ", 1),
                                                    params), derived_tables(store))


def profiled(store: Store) -> tuple[Any, dict[str, list[float]]]:
    """A cursor over ``store`` that times each statement it runs, by the statement's first words."""
    run = store_runner(store)
    times: dict[str, list[float]] = {}

    def timed(sql: str, params: dict[str, Any]) -> Any:
        began = time.perf_counter()
        try:
            return run(sql, params)
        finally:
            times.setdefault(" ".join(sql.split())[:100], []).append((time.perf_counter() - began) * 1000)

    return ClickHouseCursor(timed, derived_tables(store)), times


def per_query(times: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Each statement's engine time per run (p50, p95) and count, the most expensive in total first."""
    out = []
    for sql, found in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        found.sort()
        out.append({"sql": sql, "n": len(found), "p50_ms": round(statistics.median(found), 1),
                    "p95_ms": round(found[min(len(found) - 1, int(len(found) * 0.95))], 1)})
    return out


def lookups(cur: Any, event_ids: list[str]) -> dict[str, float]:
    times = []
    for event_id in event_ids:
        began = time.perf_counter()
        trace(cur, event_id=event_id)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"n": len(times), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 1)}


def gates(cur: Any) -> dict[str, Any]:
    manifest = Manifest(current="1.5.0", rollback="1.4.0", service="shop", environment="production")
    began = time.perf_counter()
    report = run_gates(cur, "all", Subject(service="shop"), manifest=manifest)
    total = time.perf_counter() - began
    slowest = sorted(report.results, key=lambda r: -r.seconds)[:5]
    return {"total_s": round(total, 2), "checks": len(report.results),
            "statuses": {s: sum(1 for r in report.results if r.status.value == s)
                         for s in ("pass", "warn", "fail", "unknown", "not_applicable")},
            "per_gate_s": {g: round(sum(r.seconds for r in report.results if r.gate == g), 2) for g in GATES},
            "slowest": [(r.id, round(r.seconds, 2)) for r in slowest],
            "query_failures": [r.id for r in report.results if r.reason.startswith("query failed")]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=17_500_000, help="spans + logs (about 57%% spans)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--bare-lookups", type=int, default=10)
    parser.add_argument("--native-spans", type=int, default=0,
                        help="instead: this many spans generated in chdb by ClickHouse (no DuckDB side)")
    parser.add_argument("--with-duckdb", action="store_true",
                        help="with --native-spans: also the DuckDB store of --rows, in the same run")
    parser.add_argument("--skip-gates", action="store_true", help="trace lookups only")
    parser.add_argument("--profile", action="store_true",
                        help="with --native-spans: each of the trace's statements timed on the indexed store")
    args = parser.parse_args(argv)
    VAR.mkdir(parents=True, exist_ok=True)
    if args.native_spans:
        return native(args)
    db = duckdb_store(args.rows, args.seed)
    parquet = export_parquet(db)
    duck = duckdb.connect(str(db), read_only=True)
    spans = duck.execute("SELECT count(*) FROM otel_traces").fetchone()
    ids = [r[0] for r in duck.execute(
        "SELECT DISTINCT EventId FROM liveobs_correlation WHERE EventId IS NOT NULL AND Signal = 'span'").fetchall()]
    chosen = random.Random(args.seed).sample(ids, min(args.lookups, len(ids)))
    result: dict[str, Any] = {"rows": args.rows, "spans": spans[0] if spans else 0}
    result["duckdb"] = {"trace": lookups(duck, chosen), "gates": gates(duck)}
    duck.close()
    folder = VAR / f"chdb-{args.rows}-{args.seed}"
    indexed = chdb_store(folder, parquet, "otel", indexed=True)
    bare = chdb_store(folder, parquet, "bare", indexed=False)
    try:
        result["chdb_with_index"] = {"trace": lookups(cursor_for(indexed), chosen), "gates": gates(cursor_for(indexed))}
        result["chdb_without_index"] = {"trace": lookups(cursor_for(bare), chosen[: args.bare_lookups])}
    finally:
        bare.close()
        indexed.close()
    print(json.dumps(result, indent=2))
    return 0


def native(args: argparse.Namespace) -> int:
    folder = VAR / f"chdb-native-{args.native_spans}"
    result: dict[str, Any] = {"spans": args.native_spans}
    for indexed in (True, False):
        store = native_store(folder, args.native_spans, indexed)
        try:
            ids = [r[0] for r in store.query(
                "SELECT SpanAttributes['liveobs.event.id'] FROM otel_traces WHERE ParentSpanId = '' "
                "AND cityHash64(SpanId) % 1000 = 7 LIMIT {n:Int64}", {"n": args.lookups})]
            cur = cursor_for(store)
            key = "chdb_with_index" if indexed else "chdb_without_index"
            result[key] = {"trace": lookups(cur, ids if indexed else ids[: args.bare_lookups])}
            if indexed:
                result[key]["trace_without_projections"] = lookups(without_projections(store), ids)
                result[key]["trace_again"] = lookups(cur, ids)
                if args.profile:
                    timed, times = profiled(store)
                    lookups(timed, ids)
                    result[key]["trace_queries"] = per_query(times)
                if not args.skip_gates:
                    result[key]["gates"] = gates(cur)
        finally:
            store.close()
    if args.with_duckdb:
        db = duckdb_store(args.rows, args.seed)
        duck = duckdb.connect(str(db), read_only=True)
        try:
            spans = duck.execute("SELECT count(*) FROM otel_traces").fetchone()
            ids = [r[0] for r in duck.execute(
                "SELECT EventId FROM liveobs_correlation WHERE EventId IS NOT NULL AND Signal = 'span' "
                "AND hash(SpanId) % 1000 = 7 LIMIT ?", [args.lookups]).fetchall()]
            result["duckdb"] = {"spans": spans[0] if spans else 0, "trace": lookups(duck, ids)}
            if not args.skip_gates:
                result["duckdb"]["gates"] = gates(duck)
        finally:
            duck.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
