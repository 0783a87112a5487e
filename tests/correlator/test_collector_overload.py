"""More senders than the collector can take: 429 with Retry-After, bounded memory, nothing acked lost."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

import duckdb
import httpx
import pyarrow as pa
import pytest

from liveobs.correlator._samples import sample_spans_request

SENDERS = 24
SECONDS = 4.0
BUFFER_BYTES = 4 * 1024 * 1024
RSS_BOUND_KIB = 700 * 1024
# The conversion process (spool mode): at most two batches of bodies and their tables, its interner, pyarrow
# (measured: 218 MiB peak, about 140 MiB of it at rest).
CONVERSION_RSS_BOUND_KIB = 300 * 1024


def _sender(url: str, body_pool: list[tuple[bytes, list[str]]], deadline: float, acked: list[str],
            statuses: Counter[str], lock: threading.Lock) -> None:
    with httpx.Client(timeout=60) as client:
        i = 0
        while time.monotonic() < deadline:
            body, ids = body_pool[i % len(body_pool)]
            i += 1
            response = client.post(f"{url}/v1/traces", content=body,
                                   headers={"Content-Type": "application/x-protobuf"})
            with lock:
                statuses[str(response.status_code)] += 1
                if response.status_code in (429, 503):
                    statuses["retry-after"] += int(response.headers.get("Retry-After") == "1")
            if response.status_code == 200:
                acked.extend(ids)
            if i >= len(body_pool):
                return


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--spool", "--no-spool"])
def test_overload_answers_429_with_retry_after_and_loses_nothing(collector_factory, mode) -> None:
    running = collector_factory(extra_args=["--max-buffered-bytes", str(BUFFER_BYTES), mode])
    pools = []
    for _ in range(SENDERS):
        pool = []
        for _ in range(12):
            request = sample_spans_request(1000)
            pool.append((request.SerializeToString(),
                         [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]))
        pools.append(pool)
    acked: list[list[str]] = [[] for _ in range(SENDERS)]
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS
    threads = [threading.Thread(target=_sender, args=(running.url, pools[i], deadline, acked[i], statuses, lock))
               for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    peak = running.peak_rss_kib()
    converting = running.conversion_peak_rss_kib() if mode == "--spool" else 0
    assert running.stop() == 0
    sys.stdout.write(f"\noverload: statuses {dict(statuses)}, collector peak RSS {peak / 1024:.0f} MiB,"
                     f" conversion process {converting / 1024:.0f} MiB\n")
    assert converting < CONVERSION_RSS_BOUND_KIB
    assert statuses["429"] > 0
    assert statuses["retry-after"] == statuses["429"] + statuses["503"]
    assert set(statuses) <= {"200", "429", "503", "retry-after"}
    assert peak < RSS_BOUND_KIB
    acknowledged = [sid for ids in acked for sid in ids]
    con = duckdb.connect(str(running.db), read_only=True)
    con.register("acked", pa.table({"SpanId": pa.array(acknowledged, pa.string())}))
    assert con.execute("SELECT count(*) FROM otel_traces JOIN acked USING (SpanId)").fetchone() == (len(acknowledged),)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (len(acknowledged),)
