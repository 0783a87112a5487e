"""Query benchmark: ``trace --event-id`` at 1M and 10M rows, and the CLI's start-up.

Builds (once, then cached under var/bench/) generated stores of realistic shape
and prints, per size:

* engine time of the trace lookup, p50 and p95 over many random event ids
  (the query functions on an open connection, as the collector runs them);
* the same for failing event ids and for incidents;
* whole-command wall time of ``liveobs --db … trace --event-id … --json``
  (a fresh process each time: interpreter, imports, open, query, JSON);

and the wall time of ``liveobs --help``. Targets: engine p95 ≤ 50 ms at 10M
rows, the whole command ≤ 0.5 s, nearly flat from 1M to 10M; ``--help`` ≤ 0.2 s.

    python benchmarks/bench_query.py [--sizes 1m,10m] [--lookups 300] [--commands 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import duckdb

from liveobs.correlator._incidents import incidents
from liveobs.correlator._trace import trace

ROOT: Final = Path(__file__).resolve().parents[1]
CACHE: Final = ROOT / "var" / "bench"
SIZES: Final = {"1m": 1_000_000, "10m": 10_000_000}
TARGET_ENGINE_P95_MS: Final = 50.0
TARGET_COMMAND_S: Final = 0.5
TARGET_HELP_S: Final = 0.2
SEED: Final = 7


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_store", Path(__file__).with_name("gen_store.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_store"] = module
    spec.loader.exec_module(module)
    return module


def cached_store(size: str) -> tuple[Path, dict[str, Any]]:
    """The store for ``size``, generated when missing or made by another generator version."""
    gen = _generator()
    path = CACHE / f"store-{size}.duckdb"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        summary = json.loads(meta.read_text())
        if summary.get("generator") == gen.GENERATOR_VERSION:
            return path, summary
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in (path, Path(f"{path}.wal"), meta):
        stale.unlink(missing_ok=True)
    print(f"generating {path} ({SIZES[size]:,} rows)…", flush=True)
    summary = {**gen.generate(path, SIZES[size], SEED).to_dict(), "generator": gen.GENERATOR_VERSION}
    meta.write_text(json.dumps(summary, indent=2))
    print(f"  {summary['rows']:,} rows in {summary['seconds']} s", flush=True)
    return path, summary


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn: Any, cpu: list[float] | None = None) -> float:
    """Wall seconds of ``fn()``; its CPU seconds (all threads of this process) go to ``cpu``."""
    began, began_cpu = time.perf_counter(), time.process_time()
    fn()
    if cpu is not None:
        cpu.append(time.process_time() - began_cpu)
    return time.perf_counter() - began


def engine(path: Path, lookups: int) -> dict[str, Any]:
    """Trace lookups and incidents on one open read-only connection."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rng = random.Random(SEED)
        events = [r[0] for r in con.execute(
            "SELECT EventId FROM liveobs_correlation WHERE Signal = 'span' AND EventName IS NOT NULL "
            "ORDER BY hash(EventId, ?) LIMIT ?", [SEED, lookups]).fetchall()]
        failing = [r[0] for r in con.execute(
            "SELECT DISTINCT EventId FROM liveobs_errors WHERE Source = 'span' ORDER BY EventId").fetchall()]
        failing = rng.sample(failing, min(len(failing), max(20, lookups // 5)))
        for event_id in events[:10]:
            trace(con, event_id=event_id)
        cpu: list[float] = []
        any_ms = [1e3 * _timed(lambda e=e: trace(con, event_id=e), cpu) for e in events]
        cpu_ms = [1e3 * c for c in cpu]
        fail_ms = [1e3 * _timed(lambda e=e: trace(con, event_id=e)) for e in failing]
        incident_ms = [1e3 * _timed(lambda: incidents(con)) for _ in range(5)]
        return {
            "lookups": len(any_ms),
            "trace_p50_ms": round(statistics.median(any_ms), 2),
            "trace_p95_ms": round(percentile(any_ms, 0.95), 2),
            "trace_max_ms": round(max(any_ms), 2),
            "trace_cpu_p50_ms": round(statistics.median(cpu_ms), 2),
            "trace_cpu_p95_ms": round(percentile(cpu_ms, 0.95), 2),
            "failing_p50_ms": round(statistics.median(fail_ms), 2),
            "failing_p95_ms": round(percentile(fail_ms, 0.95), 2),
            "incidents_p50_ms": round(statistics.median(incident_ms), 1),
            "sample_events": failing[:3] + events[:3],
        }
    finally:
        con.close()


def liveobs_command() -> list[str]:
    exe = shutil.which("liveobs", path=str(Path(sys.executable).parent)) or shutil.which("liveobs")
    return [exe] if exe else [sys.executable, "-m", "liveobs.cli"]


def command_wall(path: Path, event_ids: list[str], runs: int) -> dict[str, float]:
    """Wall time of the whole ``liveobs trace`` command, a new process each run."""
    env = {k: v for k, v in os.environ.items() if k != "LIVEOBS_DB"}
    times = []
    for i in range(runs):
        event_id = event_ids[i % len(event_ids)]
        argv = [*liveobs_command(), "--db", str(path), "trace", "--event-id", event_id, "--json"]
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        times.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise RuntimeError(f"liveobs trace failed ({done.returncode}): {done.stderr.strip()}")
        assert json.loads(done.stdout)["event_id"] == event_id
    return {"command_p50_s": round(statistics.median(times), 3), "command_p95_s": round(percentile(times, 0.95), 3),
            "command_max_s": round(max(times), 3)}


def help_wall(runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([*liveobs_command(), "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return round(statistics.median(times), 3)


def _mark(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="trace --event-id at 1M and 10M rows")
    parser.add_argument("--sizes", default="1m,10m", help="comma-separated: 1m, 10m")
    parser.add_argument("--lookups", type=int, default=300, help="random event ids per size")
    parser.add_argument("--commands", type=int, default=20, help="whole-command runs per size")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes: {', '.join(unknown)}")
    results: dict[str, Any] = {}
    for size in sizes:
        path, summary = cached_store(size)
        figures = engine(path, args.lookups)
        figures.update(command_wall(path, figures.pop("sample_events"), args.commands))
        figures["rows"] = summary["rows"]
        figures["events"] = summary["events"]
        figures["file_mib"] = round(path.stat().st_size / 2**20, 1)
        results[size] = figures
    results["help_s"] = help_wall()
    load = os.getloadavg()[0]
    print(f"\n{'size':<5} {'rows':>11} {'MiB':>7} {'trace p50':>10} {'p95':>9} {'cpu p50':>9} {'cpu p95':>9} "
          f"{'fail p95':>9} {'incidents':>10} {'cmd p50':>8} {'cmd p95':>8}")
    for size in sizes:
        f = results[size]
        print(f"{size:<5} {f['rows']:>11,} {f['file_mib']:>7} {f['trace_p50_ms']:>7} ms {f['trace_p95_ms']:>6} ms "
              f"{f['trace_cpu_p50_ms']:>6} ms {f['trace_cpu_p95_ms']:>6} ms {f['failing_p95_ms']:>6} ms "
              f"{f['incidents_p50_ms']:>7} ms {f['command_p50_s']:>6} s {f['command_p95_s']:>6} s")
    print(f"(load average {load:.2f} on {os.cpu_count()} cores: wall times grow with it, CPU times much less)")
    results["load_average"] = round(load, 2)
    largest = results[sizes[-1]]
    print(f"\nengine p95 at {sizes[-1]}: {largest['trace_p95_ms']} ms (target ≤ {TARGET_ENGINE_P95_MS} ms) "
          f"{_mark(largest['trace_p95_ms'] <= TARGET_ENGINE_P95_MS)}")
    print(f"whole command p95 at {sizes[-1]}: {largest['command_p95_s']} s (target ≤ {TARGET_COMMAND_S} s) "
          f"{_mark(largest['command_p95_s'] <= TARGET_COMMAND_S)}")
    if len(sizes) > 1:
        ratio = largest["trace_p95_ms"] / max(results[sizes[0]]["trace_p95_ms"], 1e-9)
        print(f"engine p95 {sizes[-1]} / {sizes[0]}: {ratio:.2f}x")
        results["engine_p95_ratio"] = round(ratio, 2)
    print(f"liveobs --help: {results['help_s']} s (target ≤ {TARGET_HELP_S} s) {_mark(results['help_s'] <= TARGET_HELP_S)}")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "bench_query.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
