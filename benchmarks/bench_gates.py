"""Gates benchmark: every gate over a 10M-row store; target under 5 s in total.

The store comes from ``gen_store.generate`` (kept in ``var/bench/`` and reused
across runs). Prints the total (the best of ``--repeat`` runs, wall and CPU
seconds: the machine may be shared), each gate's seconds and the slowest checks.

    python benchmarks/bench_gates.py [--rows 10000000] [--db PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_store import RELEASES, SERVICE, generate

from liveobs.correlator._db import connect
from liveobs.correlator.gates import GATES, GateRunner, Manifest, Subject

TARGET_S = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of all gates; the best counts")
    args = parser.parse_args(argv)
    db = args.db or Path("var/bench") / f"gates-{args.rows}.duckdb"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        generate(db, rows=args.rows, seed=args.seed)
        print(f"generated {db} in {time.perf_counter() - began:.1f}s")
    con = connect(db)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
              for t in ("otel_traces", "otel_logs")}
    print(f"store {db}: {counts['otel_traces']:,} spans + {counts['otel_logs']:,} log records "
          f"= {sum(counts.values()):,} rows")
    runner = GateRunner(con, manifest=Manifest(current=RELEASES[-1], rollback=RELEASES[0]))
    subject = Subject(service=SERVICE)
    runs = []
    for _ in range(max(args.repeat, 1)):
        began, cpu = time.perf_counter(), _cpu_seconds()
        report = runner.run("all", subject)
        runs.append((time.perf_counter() - began, _cpu_seconds() - cpu, report))
    total, cpu, report = min(runs, key=lambda r: r[0])
    print(f"all gates: {total:.2f}s wall, {cpu:.2f}s CPU for {len(report.results)} checks, best of {len(runs)} "
          f"(all runs: {', '.join(f'{r[0]:.2f}s' for r in runs)}; "
          f"release {report.subject.release}, baseline {report.subject.baseline})")
    for gate in GATES:
        results = [r for r in report.results if r.gate == gate]
        statuses = ", ".join(f"{r.id.split('.', 1)[1]}={r.status.value}" for r in results)
        print(f"  {gate:<13} {sum(r.seconds for r in results):6.2f}s  {statuses}")
    scoped = total - sum(r.seconds for r in report.results)
    print(f"  release lookup and scoping {scoped:.2f}s")
    slowest = sorted(report.results, key=lambda r: r.seconds, reverse=True)[:5]
    print("  slowest checks: " + ", ".join(f"{r.id} {r.seconds:.2f}s" for r in slowest))
    per_gate = {}
    for gate in GATES:
        began = time.perf_counter()
        runner.run(gate, subject)
        per_gate[gate] = time.perf_counter() - began
    print("each gate on its own: " + ", ".join(f"{g} {s:.2f}s" for g, s in per_gate.items()))
    print(f"total {total:.2f}s against a target of {TARGET_S:.1f}s: {'met' if total < TARGET_S else 'MISSED'}")
    con.close()
    return 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
