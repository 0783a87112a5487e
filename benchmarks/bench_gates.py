"""Gates benchmark: every gate over a 10M-row store, before and after a change, in one run; target under 2 s.

The store comes from ``gen_store.generate`` (kept in ``var/bench/`` and reused
across runs); every page render in it then gets the security evidence the SDK
records (its CSP header as sent, its scripts with their integrity, in the form of
``liveobs.evidence``, plus the flags older gates read), so the checks that judge
it have work to do. The gates of ``--before`` (a commit; its sources are taken
with ``git archive`` and run in a subprocess) and of this checkout then run over
the same store, one after the other. Prints each total (the best of ``--repeat``
runs, wall and CPU seconds: the machine may be shared), each gate's seconds and
the slowest checks.

    python benchmarks/bench_gates.py [--rows 10000000] [--db PATH] [--repeat 3] [--before 13cb834] [--profile]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_store import RELEASES, SERVICE, generate

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator._db import connect
from liveobs.correlator._retention import FORGET_SECRET_SCANS
from liveobs.correlator.gates import GATES, GateRunner, Manifest, Subject
from liveobs.correlator.gates._catalogue import bind, load_checks, needed_statements
from liveobs.correlator.gates._releases import bind_manifest, resolve
from liveobs.correlator.gates._secretcache import SCAN_TABLE, KeptScan
from liveobs.evidence import Served, asset_digests, page_resources, resources_json, served_json, stored_form

TARGET_S = 2.0
ROOT = Path(__file__).resolve().parents[1]
DECORATED = "bench_gates_evidence_v2"
# Every page render's CSP and SRI events: a per-response nonce, the client asset with its integrity.
_DECORATE = """
UPDATE otel_traces SET Events = {
    'Timestamp': ["Timestamp", "Timestamp"],
    'Name': [$SECURITY_EVENT, $SECURITY_EVENT],
    'Attributes': [
        MAP {$SECURITY_CHECK: $CHECK_CSP, $SECURITY_OUTCOME: $OUTCOME_PRESENT, $CSP_SOURCE: 'nonce',
             $CSP_UNSAFE_INLINE: 'false', $CSP_UNSAFE_EVAL: 'false',
             $CSP_DIRECTIVES: 'default-src,script-src,object-src,base-uri,frame-ancestors',
             $CSP_POLICY: replace($policy, 'NONCE', left(SpanId, 16))},
        MAP {$SECURITY_CHECK: $CHECK_SRI, $SECURITY_OUTCOME: $OUTCOME_PRESENT, $SRI_ALGORITHM: 'sha384',
             $SRI_RESOURCES: $resources, $PAGE_ORIGIN: 'https://shop.example', $SRI_SERVED: $served}]}
WHERE SpanKind = 'Server' AND SpanAttributes[$HTTP_REQUEST_METHOD] = 'GET' AND (len(Events."Name") = 0 OR Events."Name" = [$SECURITY_EVENT, $SECURITY_EVENT])
"""


def decorate(db: Path) -> None:
    """Give every page render of the generated store the evidence the SDK records (once per store)."""
    con = connect(db)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS bench_marks (name VARCHAR)")
        if con.execute("SELECT count(*) FROM bench_marks WHERE name = ?", [DECORATED]).fetchone() != (0,):
            return
        body = b"/* liveobs.js */"
        integrity = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
        page = f'<script src="/_liveobs/liveobs.js" integrity="{integrity}" crossorigin="anonymous"></script>'
        params = {name: getattr(ev, name) for name in (
            "SECURITY_EVENT", "SECURITY_CHECK", "CHECK_CSP", "SECURITY_OUTCOME", "OUTCOME_PRESENT", "CSP_SOURCE",
            "CSP_UNSAFE_INLINE", "CSP_UNSAFE_EVAL", "CSP_DIRECTIVES", "CSP_POLICY", "CHECK_SRI", "SRI_ALGORITHM",
            "SRI_RESOURCES", "PAGE_ORIGIN", "SRI_SERVED")}
        params.update({
            "HTTP_REQUEST_METHOD": keys.HTTP_REQUEST_METHOD,
            # The stored form keeps a nonce as a digest ('nonce-h:<hex>'); each page gets its own.
            "policy": stored_form("default-src 'self'; script-src 'nonce-h.NONCE'; object-src 'none'; "
                                  "base-uri 'none'; frame-ancestors 'none'"),
            "resources": resources_json(page_resources(page)),
            "served": served_json([Served("/_liveobs/liveobs.js", 200, asset_digests(body))]),
        })
        con.execute(_DECORATE, params)
        con.execute("INSERT INTO bench_marks VALUES (?)", [DECORATED])
        con.execute("CHECKPOINT")
    finally:
        con.close()


def run_all(db: Path, repeat: int) -> dict[str, Any]:
    """Every gate over ``db`` with this interpreter's gates: the best of ``repeat`` runs, per gate and check."""
    con = connect(db)
    try:
        runner = GateRunner(con, manifest=Manifest(current=RELEASES[-1], rollback=RELEASES[0], service=SERVICE,
                                                   environment="production"))
        subject = Subject(service=SERVICE)
        # The first run finds no kept secret scan (a cold run); the later ones scan only rows added since.
        for sql in FORGET_SECRET_SCANS:
            con.execute(sql)
        runs = []
        for _ in range(max(repeat, 1)):
            began, cpu = time.perf_counter(), _cpu_seconds()
            report = runner.run("all", subject)
            runs.append((time.perf_counter() - began, _cpu_seconds() - cpu, report))
        total, cpu, report = min(runs, key=lambda r: r[0])
        return {
            "total": total, "cpu": cpu, "runs": [r[0] for r in runs], "checks": len(report.results),
            "cold": runs[0][0], "cold_cpu": runs[0][1], "warm": min((r[0] for r in runs[1:]), default=None),
            "same": all([(r.id, r.status, r.reason) for r in run[2].results]
                        == [(r.id, r.status, r.reason) for r in runs[0][2].results] for run in runs),
            "release": report.subject.release, "baseline": report.subject.baseline,
            "gates": {gate: [(r.id, r.status.value, r.seconds) for r in report.results if r.gate == gate]
                      for gate in GATES},
        }
    finally:
        con.close()


def profile_scope(db: Path) -> list[tuple[str, float, float]]:
    """Wall and CPU seconds of the release lookup and of each scope statement, run one by one as the engine runs
    them for every gate (after the timed runs: with the kept secret scan, so only new rows are scanned): where
    the time goes before any check reads the scoped tables."""
    con = connect(db)
    try:
        manifest = Manifest(current=RELEASES[-1], rollback=RELEASES[0], service=SERVICE, environment="production")
        runner = GateRunner(con, manifest=manifest)
        chosen = list(load_checks())
        subject, _ = bind_manifest(Subject(service=SERVICE), manifest)
        timings = []
        began, cpu = time.perf_counter(), _cpu_seconds()
        resolved = resolve(con, subject, needs_baseline=True)
        timings.append(("release lookup", time.perf_counter() - began, _cpu_seconds() - cpu))
        params = {**runner._params(resolved.subject), **resolved.bounds, "scan_secrets": True}
        began, cpu = time.perf_counter(), _cpu_seconds()
        kept = KeptScan.begin(con, params)
        warm = kept is not None and not kept.cold
        params["scan_secrets"] = not warm
        timings.append(("kept secret scan marks", time.perf_counter() - began, _cpu_seconds() - cpu))
        for statement in needed_statements(*chosen):
            if warm and statement.creates == SCAN_TABLE:
                continue
            began, cpu = time.perf_counter(), _cpu_seconds()
            con.execute(statement.sql, bind(statement.sql, params, statement.creates))
            timings.append((statement.creates, time.perf_counter() - began, _cpu_seconds() - cpu))
        if warm and kept is not None:
            began, cpu = time.perf_counter(), _cpu_seconds()
            kept.scan_new_rows(con, params)
            timings.append(("secret scan of new rows", time.perf_counter() - began, _cpu_seconds() - cpu))
        return timings
    finally:
        con.close()


def run_before(commit: str, db: Path, repeat: int) -> dict[str, Any]:
    """The gates of ``commit`` over ``db``, in a subprocess that imports that commit's sources."""
    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "liveobs/src", "correlator/src"],
                                 check=True, capture_output=True).stdout
        path = Path(tmp) / "src.tar"
        path.write_bytes(archive)
        with tarfile.open(path) as tar:
            tar.extractall(tmp, filter="data")
        code = (
            "import json, resource, sys, time\n"
            "from liveobs.correlator._db import connect\n"
            "from liveobs.correlator.gates import GateRunner, Manifest, Subject\n"
            "db, repeat, service, current, rollback = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]\n"
            "con = connect(db)\n"
            "runner = GateRunner(con, manifest=Manifest(current=current, rollback=rollback))\n"
            "runs = []\n"
            "for _ in range(repeat):\n"
            "    u = resource.getrusage(resource.RUSAGE_SELF); cpu = u.ru_utime + u.ru_stime\n"
            "    began = time.perf_counter(); report = runner.run('all', Subject(service=service))\n"
            "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
            "    runs.append((time.perf_counter() - began, u.ru_utime + u.ru_stime - cpu, report))\n"
            "total, cpu, report = min(runs, key=lambda r: r[0])\n"
            "print(json.dumps({'total': total, 'cpu': cpu, 'runs': [r[0] for r in runs], 'checks': len(report.results)}))\n"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([f"{tmp}/liveobs/src", f"{tmp}/correlator/src"])}
        out = subprocess.run([sys.executable, "-c", code, str(db), str(repeat), SERVICE, RELEASES[-1], RELEASES[0]],
                             check=True, capture_output=True, text=True, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of all gates; the best counts")
    parser.add_argument("--before", default="13cb834", help="the commit to compare with ('' to skip)")
    parser.add_argument("--profile", action="store_true", help="also time the release lookup and each scope statement")
    args = parser.parse_args(argv)
    db = args.db or Path("var/bench") / f"gates-{args.rows}.duckdb"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        generate(db, rows=args.rows, seed=args.seed)
        print(f"generated {db} in {time.perf_counter() - began:.1f}s")
    began = time.perf_counter()
    decorate(db)
    print(f"page renders carry their CSP and SRI evidence ({time.perf_counter() - began:.1f}s)")
    con = connect(db)
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
              for t in ("otel_traces", "otel_logs")}
    con.close()
    print(f"store {db}: {counts['otel_traces']:,} spans + {counts['otel_logs']:,} log records "
          f"= {sum(counts.values()):,} rows")
    if args.before:
        before = run_before(args.before, db, args.repeat)
        print(f"before ({args.before}): all gates {before['total']:.2f}s wall, {before['cpu']:.2f}s CPU for "
              f"{before['checks']} checks, best of "
              f"{len(before['runs'])} (all runs: {', '.join(f'{r:.2f}s' for r in before['runs'])})")
    after = run_all(db, args.repeat)
    print(f"after (this checkout): all gates {after['total']:.2f}s wall, {after['cpu']:.2f}s CPU for "
          f"{after['checks']} checks, best of {len(after['runs'])} (all runs: "
          f"{', '.join(f'{r:.2f}s' for r in after['runs'])}; release {after['release']}, baseline {after['baseline']})")
    if after["warm"] is not None:
        print(f"  cold (first run, no kept secret scan) {after['cold']:.2f}s wall, {after['cold_cpu']:.2f}s CPU; warm "
              f"(best repeat run) {after['warm']:.2f}s; "
              f"every run judged the same: {after['same']}")
    checks = [c for gate in GATES for c in after["gates"][gate]]
    for gate in GATES:
        results = after["gates"][gate]
        statuses = ", ".join(f"{cid.split('.', 1)[1]}={status}" for cid, status, _ in results)
        print(f"  {gate:<13} {sum(s for _, _, s in results):6.2f}s  {statuses}")
    print(f"  release lookup and scoping {after['total'] - sum(s for _, _, s in checks):.2f}s")
    slowest = sorted(checks, key=lambda c: c[2], reverse=True)[:5]
    print("  slowest checks: " + ", ".join(f"{cid} {s:.2f}s" for cid, _, s in slowest))
    if args.profile:
        steps = profile_scope(db)
        print("  scope, statement by statement (wall / CPU): " + ", ".join(
            f"{name} {wall:.2f}/{cpu:.2f}s" for name, wall, cpu in steps if wall >= 0.05))
    print(f"total {after['total']:.2f}s against a target of {TARGET_S:.1f}s: "
          f"{'met' if after['total'] < TARGET_S else 'MISSED'}")
    return 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
