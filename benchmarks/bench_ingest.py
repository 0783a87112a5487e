"""Ingest benchmark: spans/s acknowledged and acknowledgement latency at 1, 2, 4 and 16 senders.

The spans are shaped as apps send them: every span has its own trace id, event
id and request id (a live event per span), eight attributes, and each request
its own session and connection. (A sample whose attribute values repeat would
measure the collector's attribute cache, not ingest.)

For each sender count a fresh ``liveobs collect`` subprocess is started, and a
separate load-generator process (threads posting pre-encoded HTTP/1.1 requests
of 1,000 spans over keep-alive sockets) sends the same number of requests. A
span counts once its request is answered 200. Printed per run: spans/s
acknowledged, p50/p95/max acknowledgement latency (from the request's first
byte sent to its answer read), the rate until the last acknowledged span is
queryable (a flush after the last answer: converted and committed), requests
told to retry (429), and the collector's CPU seconds and peak RSS.

Then the floors on this machine, as a rate and as CPU microseconds per span
(which a machine loaded by other work disturbs less): protobuf parse alone,
conversion to Arrow alone (five requests a pass, as the collector batches them),
DuckDB insert and commit alone (one thread, as the collector runs it), from
Arrow and, where the collector hands spans over as Parquet files (``_staged``),
the writing of those files and the insert from them. The collector's CPU
seconds and peak RSS include its conversion process.

Before/after: the load generator does not import the code under test, so the
same script measures another checkout's collector: ``PYTHONPATH`` set to that
checkout's ``*/src`` folders makes ``python -m liveobs.cli`` (the collector) and
the floors use it. ``BENCH_INGEST_SENDERS`` (e.g. ``1,16``),
``BENCH_INGEST_REQUESTS`` and ``BENCH_INGEST_COLLECT_ARGS`` (e.g.
``--no-spool``) change the run.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

SPANS_PER_REQUEST = 1_000
REQUESTS = int(os.environ.get("BENCH_INGEST_REQUESTS", "320"))
SENDER_COUNTS = [int(n) for n in os.environ.get("BENCH_INGEST_SENDERS", "1,2,4,16").split(",")]
COLLECT_ARGS = os.environ.get("BENCH_INGEST_COLLECT_ARGS", "").split()
TARGETS = {16: 100_000, 2: 60_000}
T = TypeVar("T")


def realistic_request(count: int, seed: int) -> bytes:
    """One request of ``count`` live-event spans, each with unique trace, event and request ids."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in (("service.name", "shop"), ("service.version", "1.4.2"),
                       ("deployment.environment.name", "production")):
        attr = rs.resource.attributes.add()
        attr.key, attr.value.string_value = key, value
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "liveobs.sdk", "0.1.0"
    session, connection = rng.randbytes(8).hex(), rng.randbytes(6).hex()
    t0 = time.time_ns()
    events = ("add_to_cart", "remove_item", "checkout", "search", "open_card", "save")
    for i in range(count):
        span = ss.spans.add()
        span.trace_id, span.span_id = rng.randbytes(16), rng.randbytes(8)
        name = events[i % len(events)]
        span.name, span.kind = f"live.event {name}", 2
        span.start_time_unix_nano = t0 + i * 1_000
        span.end_time_unix_nano = t0 + i * 1_000 + rng.randrange(200_000, 5_000_000)
        for key, value in (
            ("session.id", session),
            ("liveobs.connection.id", connection),
            ("liveobs.event.id", rng.randbytes(16).hex()),
            ("liveobs.request.id", rng.randbytes(16).hex()),
            ("liveobs.route.id", "cart.show"),
            ("http.route", "/cart/{cart_id}"),
            ("liveobs.event.name", name),
        ):
            attr = span.attributes.add()
            attr.key, attr.value.string_value = key, value
        attr = span.attributes.add()
        attr.key, attr.value.int_value = "liveobs.patch.bytes", rng.randrange(80, 4000)
    return bytes(request.SerializeToString())


def _start_collector(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "liveobs.cli", "--db", str(db), "collect", "--port", "0", *COLLECT_ARGS],
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


def _read_response(sock: socket.socket, pending: bytes) -> tuple[int, float, bytes]:
    """(status, Retry-After seconds, bytes left over) of one HTTP/1.1 response with a Content-Length."""
    data = pending
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the collector closed the connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, v in (line.split(b":", 1) for line in lines[1:])}
    length = int(fields.get(b"content-length", b"0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the collector closed the connection")
        rest += chunk
    return status, float(fields.get(b"retry-after", b"0")), rest[length:]


def send_all(url: str, bodies_file: str, senders: int) -> None:
    """The load generator, run in its own process; prints one JSON line of its results."""
    blob = Path(bodies_file).read_bytes()
    bodies, offset = [], 0
    while offset < len(blob):
        size = int.from_bytes(blob[offset:offset + 4], "little")
        bodies.append(blob[offset + 4:offset + 4 + size])
        offset += 4 + size
    host, port = url.removeprefix("http://").rsplit(":", 1)
    requests = [
        b"POST /v1/traces HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        for body in bodies
    ]
    acked = [0] * senders
    refused = [0] * senders
    latencies: list[list[float]] = [[] for _ in range(senders)]

    def sender(n: int) -> None:
        with socket.create_connection((host, int(port))) as sock:
            pending = b""
            for request in requests[n::senders]:
                while True:
                    started = time.perf_counter()
                    sock.sendall(request)
                    status, retry_after, pending = _read_response(sock, pending)
                    if status == 200:
                        latencies[n].append(time.perf_counter() - started)
                        acked[n] += SPANS_PER_REQUEST
                        break
                    refused[n] += 1
                    time.sleep(retry_after / 10)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({"acked": sum(acked), "refused": sum(refused), "elapsed": elapsed,
                      "cpu": time.process_time() - cpu, "latencies": sorted(x for xs in latencies for x in xs)}))


def _family(pid: int) -> list[int]:
    """The process and its children (the collector's conversion process)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(c) for c in children.read_text().split())] if children.exists() else [pid]


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of the process, and of its live children (the conversion process)."""
    own = children = 0
    for member in _family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks = int(fields[11]) + int(fields[12])
        if member == pid:
            own += ticks
        else:
            children += ticks
    tick = os.sysconf("SC_CLK_TCK")
    return own / tick, children / tick


def _settle(pid: int, timeout: float = 10.0) -> None:
    """Wait until the collector and its conversion process have started (their CPU clocks stand still)."""
    deadline = time.monotonic() + timeout
    last = _cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = _cpu_seconds(pid)
        if now == last and len(_family(pid)) > 1:
            return
        last = now


def _peak_rss_kib(pid: int) -> int:
    """Peak resident memory of the process and its live children, summed."""
    total = 0
    for member in _family(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total


def _flush(url: str) -> float:
    """Seconds until everything acknowledged is converted and committed (queryable)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    started = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        sock.sendall(f"POST /api/v1/flush HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode())
        status, _, _ = _read_response(sock, b"")
    if status != 200:
        raise RuntimeError(f"the flush answered {status}")
    return time.perf_counter() - started


def run(senders: int, bodies_file: Path, folder: Path, number: int) -> dict[str, float]:
    # A store of its own per run: the same bodies sent again to a store would be dropped as retries.
    db = folder / f"e2e-{number}-{senders}.duckdb"
    process, url = _start_collector(db)
    try:
        _settle(process.pid)  # the conversion process's imports are not the load's
        own_before, children_before = _cpu_seconds(process.pid)
        sent = subprocess.run(
            [sys.executable, __file__, "--send", url, str(bodies_file), str(senders)],
            check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
        )
        load = json.loads(sent.stdout)
        flushed = _flush(url)
        own, children = _cpu_seconds(process.pid)
        own, children = own - own_before, children - children_before
        peak = _peak_rss_kib(process.pid)
    finally:
        process.terminate()
        process.communicate(timeout=300)
    latencies = load["latencies"]
    elapsed = load["elapsed"]
    size = sum(p.stat().st_size for p in folder.glob(f"{db.name}*"))
    return {
        "acked": load["acked"] / elapsed,
        "queryable": load["acked"] / (elapsed + flushed),
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "max": latencies[-1] * 1000,
        "refused": load["refused"],
        "cpu": own + children,
        # CPU microseconds per acknowledged span: the conversion process, and the collector's own process.
        "convert_us": children / max(load["acked"], 1) * 1e6,
        "collector_us": own / max(load["acked"], 1) * 1e6,
        "peak": peak / 1024,
        "bytes": size / max(load["acked"], 1),
        "flush": flushed,
    }


def _measured(spans: int, work: Callable[[], T]) -> tuple[float, float, T]:
    """(spans/s, CPU microseconds per span, result) of running ``work`` once."""
    started, cpu = time.perf_counter(), time.process_time()
    result = work()
    return spans / (time.perf_counter() - started), (time.process_time() - cpu) / spans * 1e6, result


def floors(bodies: list[bytes], folder: Path) -> None:
    """Parse, convert and insert alone, with the code under test."""
    import pyarrow as pa
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from liveobs.correlator._db import connect
    from liveobs.correlator._derive import SPAN_VIEW, trace_bounds
    from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
    from liveobs.correlator._scrub import IngestScrubber
    from liveobs.correlator._spans import spans_tables

    spans = len(bodies) * SPANS_PER_REQUEST
    parse, parse_cpu, _ = _measured(spans, lambda: [ExportTraceServiceRequest.FromString(b) for b in bodies])
    scrubber = IngestScrubber()
    interner = AttributeInterner(scrubber)
    # As the collector converts: the requests that wait together (here five) in one pass.
    convert, convert_cpu, converted = _measured(spans, lambda: [
        c for i in range(0, len(bodies), 5)
        for c in spans_tables([raw_trace_request(b) for b in bodies[i:i + 5]], scrubber, interner)])
    con = connect(folder / "insert-only.duckdb", config={"threads": "1"})

    def insert_arrow() -> None:
        for i in range(0, len(converted), 100):
            con.execute("BEGIN TRANSACTION")
            for name in ("otel_traces", "liveobs_correlation"):
                view = SPAN_VIEW if name == "otel_traces" else "batch"
                con.register(view, pa.concat_tables([c.tables[name] for c in converted[i:i + 100]]))
                con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {view}")
            con.execute(trace_bounds(SPAN_VIEW))
            con.unregister(SPAN_VIEW)
            con.unregister("batch")
            con.execute("COMMIT")

    insert, insert_cpu, _ = _measured(spans, insert_arrow)
    con.close()
    print(f"floor: protobuf parse only:                    {parse:>9,.0f} spans/s  {parse_cpu:5.1f} CPU us/span")
    print(f"floor: parse + conversion to Arrow (redaction): {convert:>9,.0f} spans/s  {convert_cpu:5.1f} CPU us/span")
    print(f"floor: DuckDB insert and commit (from Arrow):   {insert:>9,.0f} rows/s   {insert_cpu:5.1f} CPU us/span")
    staged_floors(converted, folder)


def staged_floors(converted: list[Any], folder: Path) -> None:
    """Where the collector hands spans over as files (see ``_staged``): writing them, and inserting from them."""
    try:
        from liveobs.correlator._staged import StagedFile, StagedRows, staged_select, write_staged
    except ImportError:  # a checkout from before staged files
        return
    import pyarrow as pa

    from liveobs.correlator._db import connect
    from liveobs.correlator._derive import trace_bounds

    spans = sum(c.tables["otel_traces"].num_rows for c in converted)

    def write() -> list[list[Any]]:
        rows = []
        for n in range(0, len(converted), 5):  # a file per conversion pass
            batch = converted[n:n + 5]
            path = folder / f"staged-{n}.parquet"
            file = StagedFile(path, len(batch), write_staged(path, [c.tables["otel_traces"] for c in batch]))
            rows.append([StagedRows(file, part, c.tables["otel_traces"].num_rows) for part, c in enumerate(batch)])
        return rows

    written, write_cpu, rows = _measured(spans, write)
    con = connect(folder / "insert-staged.duckdb", config={"threads": "1"})

    def insert_staged() -> None:
        for i in range(0, len(rows), 20):
            con.execute("BEGIN TRANSACTION")
            con.register("batch", pa.concat_tables([c.tables["liveobs_correlation"]
                                                    for c in converted[i * 5:i * 5 + 100]]))
            con.execute(f"CREATE OR REPLACE TEMP VIEW staged AS {staged_select([r for g in rows[i:i + 20] for r in g])}")
            con.execute(f"INSERT INTO otel_traces BY NAME SELECT * FROM staged; {trace_bounds('staged')};"
                        " INSERT INTO liveobs_correlation BY NAME SELECT * FROM batch; DROP VIEW staged")
            con.unregister("batch")
            con.execute("COMMIT")

    insert, insert_cpu, _ = _measured(spans, insert_staged)
    con.close()
    print(f"floor: staged file written (conversion process): {written:>9,.0f} spans/s  {write_cpu:5.1f} CPU us/span")
    print(f"floor: DuckDB insert and commit (staged files): {insert:>9,.0f} rows/s   {insert_cpu:5.1f} CPU us/span")


def main() -> None:
    import liveobs.correlator

    print(f"ingest bench: {REQUESTS} requests x {SPANS_PER_REQUEST} spans (unique trace, event and request id"
          f" per span, 8 attributes), {os.cpu_count()} cores; collector from {Path(liveobs.correlator.__file__).parent}")
    bodies = [realistic_request(SPANS_PER_REQUEST, seed) for seed in range(REQUESTS)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bodies_file = folder / "bodies.bin"
        bodies_file.write_bytes(b"".join(len(b).to_bytes(4, "little") + b for b in bodies))
        print("senders  acked spans/s  until queryable  ack p50 / p95 / max ms  429s  collector CPU s"
              "  (us/span: conversion + rest)  peak RSS MiB  store B/span")
        for number, senders in enumerate(SENDER_COUNTS):
            r = run(senders, bodies_file, folder, number)
            target = TARGETS.get(senders)
            verdict = "" if target is None else f"  (target {target:,}: {'met' if r['acked'] >= target else 'NOT met'})"
            print(f"{senders:>7}  {r['acked']:>13,.0f}  {r['queryable']:>15,.0f}  {r['p50']:>7.1f} / {r['p95']:>6.1f} /"
                  f" {r['max']:>6.0f}  {r['refused']:>4.0f}  {r['cpu']:>15.1f}"
                  f"  ({r['convert_us']:>5.1f} + {r['collector_us']:>5.1f})           {r['peak']:>12,.0f}"
                  f"  {r['bytes']:>12,.0f}{verdict}")
        floors(bodies[:100], folder)
    print("targets: >= 100k acked at 16 senders, >= 60k at 2, >= 80k until queryable, p50 <= 10 ms at 1 sender")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--send"]:
        send_all(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
