"""Ingest benchmark: end-to-end spans/s (HTTP protobuf → durable rows) and its floors.

Measured in one run on this machine:
- end to end: a ``liveobs collect`` subprocess, sixteen concurrent senders
  posting pre-encoded OTLP protobuf requests of 1,000 realistic spans; a span
  counts once its request is answered 200, i.e. after COMMIT;
- floor 1, protobuf parse only (``ParseFromString``);
- floor 2, DuckDB columnar insert only (``INSERT … SELECT`` from ready Arrow
  batches of the same spans, committed);
plus the conversion alone and the bytes of store per span.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.correlator._db import connect
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table

SPANS_PER_REQUEST = 1_000
REQUESTS = int(os.environ.get("BENCH_INGEST_REQUESTS", "400"))
# Each sender waits for its answer (sent after COMMIT), so a handful of senders
# measures commit latency, not capacity; sixteen stand for many app processes.
SENDERS = int(os.environ.get("BENCH_INGEST_SENDERS", "16"))


def _bodies() -> list[bytes]:
    return [sample_spans_request(SPANS_PER_REQUEST).SerializeToString() for _ in range(REQUESTS)]


def parse_only(bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        ExportTraceServiceRequest().ParseFromString(body)
    return len(bodies) * SPANS_PER_REQUEST / (time.perf_counter() - started)


def convert_only(bodies: list[bytes]) -> tuple[float, list[pa.Table]]:
    scrubber = IngestScrubber()
    interner = AttributeInterner(scrubber)
    tables = []
    started = time.perf_counter()
    for body in bodies:
        tables.append(spans_table(raw_trace_request(body), scrubber, interner).tables["otel_traces"])
    return len(bodies) * SPANS_PER_REQUEST / (time.perf_counter() - started), tables


def insert_only(tables: list[pa.Table], folder: Path) -> float:
    con = connect(folder / "insert-only.duckdb")
    group = 100
    started = time.perf_counter()
    for i in range(0, len(tables), group):
        batch = pa.concat_tables(tables[i:i + group])
        con.execute("BEGIN TRANSACTION")
        con.register("batch", batch)
        con.execute("INSERT INTO otel_traces BY NAME SELECT * FROM batch")
        con.unregister("batch")
        con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return sum(t.num_rows for t in tables) / elapsed


def _start_collector(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "liveobs.cli", "--db", str(db), "collect", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.2)[0]:
            match = re.search(r"listening on (http://\S+)", process.stdout.readline())
            if match:
                return process, match.group(1)
    process.kill()
    raise RuntimeError("the collector did not start")


def end_to_end(bodies: list[bytes], folder: Path) -> tuple[float, int, int, int]:
    db = folder / "e2e.duckdb"
    process, url = _start_collector(db)
    acked = [0] * SENDERS
    refused = [0] * SENDERS

    def sender(n: int) -> None:
        with httpx.Client(timeout=120) as client:
            for body in bodies[n::SENDERS]:
                while True:
                    response = client.post(f"{url}/v1/traces", content=body,
                                           headers={"Content-Type": "application/x-protobuf"})
                    if response.status_code == 200:
                        acked[n] += SPANS_PER_REQUEST
                        break
                    refused[n] += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")) / 10)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    health = httpx.get(f"{url}/healthz").json()["checks"]
    busy = {k: v[0]["observedValue"] for k, v in health.items() if k in ("store:commitTime", "ingest:convertTime")}
    print(f"  collector busy: {busy} over {elapsed:.1f} s wall, {health['store:commits'][0]['observedValue']} commits")
    peak = int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{process.pid}/status").read_text()).group(1))  # type: ignore[union-attr]
    process.terminate()
    process.communicate(timeout=120)
    size = sum(p.stat().st_size for p in folder.glob("e2e.duckdb*"))
    return sum(acked) / elapsed, size, sum(refused), peak


def main() -> None:
    print(f"ingest bench: {REQUESTS} requests x {SPANS_PER_REQUEST} spans, {SENDERS} senders, {os.cpu_count()} cores")
    bodies = _bodies()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        e2e, size, refused, peak = end_to_end(bodies, folder)
        parse = parse_only(bodies)
        convert, tables = convert_only(bodies)
        insert = insert_only(tables, folder)
    spans = REQUESTS * SPANS_PER_REQUEST
    print(f"end to end (HTTP protobuf -> committed rows): {e2e:,.0f} spans/s ({refused} requests told to retry)")
    print(f"floor: protobuf parse only:                   {parse:,.0f} spans/s  (end to end = {e2e / parse:.1%})")
    print(f"floor: DuckDB columnar insert only:           {insert:,.0f} rows/s   (end to end = {e2e / insert:.1%})")
    print(f"parse + conversion to Arrow (incl. redaction): {convert:,.0f} spans/s  (end to end = {e2e / convert:.1%})")
    print(f"store: {size / spans:,.0f} bytes per span (with correlation index); collector peak RSS {peak / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
