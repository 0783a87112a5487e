"""Ingest benchmark: end-to-end spans/s (HTTP protobuf → durable rows) and its floors.

Measured in one run on this machine:
- end to end: a ``liveobs collect`` subprocess, sixteen concurrent senders (threads
  of a separate load-generator process, pre-encoded HTTP/1.1 requests over
  keep-alive sockets, their CPU seconds printed) posting OTLP protobuf requests
  of 1,000 realistic spans; a span counts once its request is answered 200,
  i.e. once durable: in the fsynced spool (the default), or committed
  (``BENCH_INGEST_COLLECT_ARGS=--no-spool``). Also printed: the rate until
  the last acknowledged row is committed (a flush after the last answer), the
  commit sizes and the spool's fsyncs;
- floor 1, protobuf parse only (``ParseFromString``);
- floor 2, DuckDB columnar insert only (``INSERT … SELECT`` from ready Arrow
  batches of the same spans into the tables the collector writes: spans,
  correlation index, trace bounds; 100 requests per commit);
plus the conversion alone (one request per pass; the collector converts requests that
wait together in one pass), the bytes of store per span, and the collector's converter and
committer CPU seconds.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.correlator._correlation import Converted
from liveobs.correlator._db import connect
from liveobs.correlator._derive import SPAN_VIEW, TRACE_BOUNDS
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table

SPANS_PER_REQUEST = 1_000
REQUESTS = int(os.environ.get("BENCH_INGEST_REQUESTS", "400"))
# Each sender waits for its answer (sent after COMMIT), so a handful of senders
# measures commit latency, not capacity; sixteen stand for many app processes.
SENDERS = int(os.environ.get("BENCH_INGEST_SENDERS", "16"))
# Extra ``liveobs collect`` options, e.g. "--no-spool" to measure acknowledgement after COMMIT.
COLLECT_ARGS = os.environ.get("BENCH_INGEST_COLLECT_ARGS", "").split()


def _bodies() -> list[bytes]:
    return [sample_spans_request(SPANS_PER_REQUEST).SerializeToString() for _ in range(REQUESTS)]


def parse_only(bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        ExportTraceServiceRequest().ParseFromString(body)
    return len(bodies) * SPANS_PER_REQUEST / (time.perf_counter() - started)


def convert_only(bodies: list[bytes]) -> tuple[float, list[Converted]]:
    scrubber = IngestScrubber()
    interner = AttributeInterner(scrubber)
    converted = []
    started = time.perf_counter()
    for body in bodies:
        converted.append(spans_table(raw_trace_request(body), scrubber, interner))
    return len(bodies) * SPANS_PER_REQUEST / (time.perf_counter() - started), converted


def insert_only(converted: list[Converted], folder: Path) -> float:
    """The tables the collector writes per span batch (spans, correlation index, trace bounds), committed."""
    con = connect(folder / "insert-only.duckdb")
    group = 100
    started = time.perf_counter()
    for i in range(0, len(converted), group):
        con.execute("BEGIN TRANSACTION")
        for name in ("otel_traces", "liveobs_correlation"):
            view = SPAN_VIEW if name == "otel_traces" else "batch"
            con.register(view, pa.concat_tables([c.tables[name] for c in converted[i:i + group]]))
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {view}")
        con.execute(TRACE_BOUNDS)
        con.unregister(SPAN_VIEW)
        con.unregister("batch")
        con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    con.close()
    return sum(c.tables["otel_traces"].num_rows for c in converted) / elapsed


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
    fields = dict(line.split(b":", 1) for line in lines[1:])
    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
    length = int(fields.get(b"content-length", b"0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the collector closed the connection")
        rest += chunk
    return status, float(fields.get(b"retry-after", b"0")), rest[length:]


def send_all(url: str, bodies_file: str, senders: int) -> None:
    """The load generator, run in its own process: pre-encoded HTTP/1.1 requests over persistent sockets.

    Each sender thread posts its share of the bodies one after another and
    counts a request's spans only once its answer is 200 (sent after COMMIT).
    Prints one JSON line: spans acked, requests refused, wall time, CPU seconds.
    """
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

    def sender(n: int) -> None:
        with socket.create_connection((host, int(port))) as sock:
            pending = b""
            for request in requests[n::senders]:
                while True:
                    sock.sendall(request)
                    status, retry_after, pending = _read_response(sock, pending)
                    if status == 200:
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
                      "cpu": time.process_time() - cpu}))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(bodies: list[bytes], folder: Path) -> tuple[float, float, int, int, int]:
    bodies_file = folder / "bodies.bin"
    bodies_file.write_bytes(b"".join(len(b).to_bytes(4, "little") + b for b in bodies))
    db = folder / "e2e.duckdb"
    process, url = _start_collector(db)
    collector_cpu = _cpu_seconds(process.pid)
    # Senders stand for other machines: their own process, so their CPU is theirs and is shown.
    sent = subprocess.run(
        [sys.executable, __file__, "--send", url, str(bodies_file), str(SENDERS)],
        check=True, capture_output=True, text=True,
    )
    load = json.loads(sent.stdout)
    # Commit everything acknowledged (a flush): the time to durable rows in the store.
    flush_started = time.perf_counter()
    httpx.post(f"{url}/api/v1/flush", timeout=120).raise_for_status()
    flushed = time.perf_counter() - flush_started
    health = {k: v[0]["observedValue"] for k, v in httpx.get(f"{url}/healthz", timeout=120).json()["checks"].items()}
    collector_cpu = _cpu_seconds(process.pid) - collector_cpu
    elapsed = load["elapsed"]
    busy = {k: health.get(k) for k in ("store:commitTime", "store:commitCpuTime", "ingest:convertTime",
                                       "ingest:convertCpuTime")}
    commits = health["store:commits"]
    print(f"  collector busy: {busy} over {elapsed:.1f} s wall; collector CPU {collector_cpu:.1f} s")
    print(f"  commits: {commits}, {health['store:rows'] / max(commits, 1):,.0f} rows on average,"
          f" largest {health['store:maxCommitRows']:,}; final flush after the last answer {flushed * 1000:.0f} ms")
    fsyncs = health["spool:fsyncs"]
    if fsyncs:
        print(f"  spool: {fsyncs} fsyncs ({REQUESTS / fsyncs:.1f} requests each), mean"
              f" {health['spool:fsyncTime'] / fsyncs * 1000:.2f} ms, max {health['spool:maxFsyncTime'] * 1000:.2f} ms")
    print(f"  senders ({SENDERS} threads, raw HTTP/1.1 keep-alive, own process): CPU {load['cpu']:.2f} s"
          f" ({load['cpu'] / elapsed:.0%} of one core)")
    peak = int(re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{process.pid}/status").read_text()).group(1))  # type: ignore[union-attr]
    process.terminate()
    process.communicate(timeout=120)
    size = sum(p.stat().st_size for p in folder.glob("e2e.duckdb*"))
    return load["acked"] / elapsed, load["acked"] / (elapsed + flushed), size, load["refused"], peak


def main() -> None:
    print(f"ingest bench: {REQUESTS} requests x {SPANS_PER_REQUEST} spans, {SENDERS} senders, {os.cpu_count()} cores")
    bodies = _bodies()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        e2e, committed, size, refused, peak = end_to_end(bodies, folder)
        parse = parse_only(bodies)
        convert, converted = convert_only(bodies)
        insert = insert_only(converted, folder)
    spans = REQUESTS * SPANS_PER_REQUEST
    print(f"end to end (HTTP protobuf -> durable, acked): {e2e:,.0f} spans/s ({refused} requests told to retry)")
    print(f"  until the last acked row is committed:      {committed:,.0f} spans/s")
    print(f"floor: protobuf parse only:                   {parse:,.0f} spans/s  (end to end = {e2e / parse:.1%})")
    print(f"floor: DuckDB columnar insert only:           {insert:,.0f} rows/s   (end to end = {e2e / insert:.1%})")
    print(f"parse + conversion to Arrow (incl. redaction): {convert:,.0f} spans/s  (end to end = {e2e / convert:.1%})")
    print(f"store: {size / spans:,.0f} bytes per span (with correlation index); collector peak RSS {peak / 1024:,.0f} MiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--send"]:
        send_all(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
