"""Web view benchmark: the pages of ``liveobs ui`` rendered over generated stores.

Uses the stores of ``bench_query.py`` (generated once, cached under var/bench/)
and prints, per size, p50 and p95 of the server-side time of the incidents page
(unfiltered and filtered by release), one incident's page and one failing
trace's page, on one read-only connection as ``liveobs ui`` holds it. Target:
the incidents page under 300 ms at 10M rows.

    python benchmarks/bench_ui.py [--sizes 1m,10m] [--repeat 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Final

import duckdb

from liveobs.correlator import _ui_pages as pages

TARGET_MS: Final = 300.0


def _bench_query() -> Any:
    spec = importlib.util.spec_from_file_location("bench_query", Path(__file__).with_name("bench_query.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_query"] = module
    spec.loader.exec_module(module)
    return module


def _times(fn: Any, repeat: int) -> tuple[float, float]:
    fn()  # warm the page cache and the plan
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        status, _ = fn()
        runs.append((time.perf_counter() - began) * 1000)
        assert status == 200, status
    runs.sort()
    return runs[len(runs) // 2], runs[min(len(runs) - 1, round(0.95 * (len(runs) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    query = _bench_query()
    for size in args.sizes.split(","):
        path, summary = query.cached_store(size)
        con = duckdb.connect(str(path), read_only=True)
        try:
            errors = con.execute("SELECT count(*) FROM liveobs_errors").fetchone()
            listing = pages.incidents_page(con, {})[1]
            fingerprint = re.findall(r"href='/incidents/([^']+)'", listing)[0]
            release = con.execute("SELECT any_value(ServiceVersion) FROM liveobs_errors").fetchone()
            trace_id = summary["sample_failing_trace_id"]
            print(f"{size}: {summary['rows']:,} rows, {errors[0] if errors else 0:,} error rows, "
                  f"{listing.count('<tr>') - 1} incidents listed")
            one_release = {"release": release[0] if release else ""}
            cases = {
                "incidents page": partial(pages.incidents_page, con, {}),
                "incidents page, one release": partial(pages.incidents_page, con, one_release),
                "incident page": partial(pages.incident_page, con, fingerprint),
                "trace page": partial(pages.trace_page, con, trace_id),
            }
            for name, fn in cases.items():
                p50, p95 = _times(fn, args.repeat)
                verdict = "" if name != "incidents page" else ("  ok" if p95 < TARGET_MS else "  OVER TARGET")
                print(f"  {name:<30} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms{verdict}")
        finally:
            con.close()


if __name__ == "__main__":
    main()
