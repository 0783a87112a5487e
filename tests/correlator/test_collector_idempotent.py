"""Retries and damage: a request sent again is stored once, a damaged spool loses only what was damaged,
and acknowledged data waiting for conversion is bounded (429 with Retry-After past the bound)."""

from __future__ import annotations

import random
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import httpx
import pytest

from liveobs.correlator._db import connect
from liveobs.correlator._otlp import PROTOBUF, TRACES
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._spool import Spool
from liveobs.correlator._spoolwriter import MIN_BACKLOG_COST, Backlogged, SpoolWriter
from liveobs.correlator._writer import Writer, WriteResult
from tests.correlator.answers import answers
from tests.waiting import readable

PB = {"Content-Type": PROTOBUF}
_RUN_COLLECTOR = """
import sys
from liveobs.correlator._collector import Collector
Collector(db=sys.argv[1], port=0, spool=True, max_commit_delay=3600).run(
    on_ready=lambda url: print("listening on", url, flush=True))
"""


def _spans(n: int) -> tuple[bytes, list[str]]:
    request = sample_spans_request(n)
    return request.SerializeToString(), [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]


def _send_and_hang_up(url: str, body: bytes, token: str | None = None) -> None:
    """Send a request and close the connection before reading the answer (the answer is lost)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Type: " + PROTOBUF.encode()
                     + b"\r\n" + auth + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(30)
        sock.recv(1)  # the collector has taken the request once it starts answering


def _stored(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT SpanId FROM otel_traces").fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("mode", ["--spool", "--no-spool"])
def test_a_request_retried_after_its_answer_was_lost_is_stored_once(collector_factory, tmp_path, mode) -> None:
    db = tmp_path / "retry.duckdb"
    running = collector_factory(db, token="tok-1", extra_args=[mode])
    body, ids = _spans(40)
    _send_and_hang_up(running.url, body, "tok-1")
    retried = httpx.post(f"{running.url}/v1/traces", content=body, headers={**PB, **running.headers})
    assert retried.status_code == 200
    assert retried.headers["x-liveobs-duplicate"] == "1"
    assert running.stop() == 0
    # The window survives a restart: the same request once more is still a duplicate.
    again = collector_factory(db, token="tok-1", extra_args=[mode])
    third = httpx.post(f"{again.url}/v1/traces", content=body, headers={**PB, **again.headers})
    assert (third.status_code, third.headers["x-liveobs-duplicate"]) == (200, "1")
    assert httpx.get(f"{again.url}/healthz").json()["checks"]["ingest:duplicates"][0]["observedValue"] == 1
    assert again.stop() == 0
    stored = _stored(db)
    assert sorted(stored) == sorted(ids)


def test_the_same_body_from_another_sender_is_its_own_request(tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    writer = Writer(con).start()
    try:
        body, _ = _spans(5)
        assert writer.write(TRACES, body) == WriteResult(5, 0)
        assert writer.write(TRACES, body) == WriteResult(0, 0, duplicate=True)
        other = threading.Event()
        results: list[object] = []
        writer.submit(TRACES, body, lambda r: (results.append(r), other.set()), sender="Bearer other")
        assert other.wait(30)
        assert results == [WriteResult(5, 0)]
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (10,)
    assert con.execute("SELECT count(*) FROM liveobs_request_digests").fetchone() == (2,)
    con.close()


def test_acknowledged_bytes_waiting_for_conversion_are_bounded(tmp_path: Path) -> None:
    con = connect(tmp_path / "b.duckdb")
    bodies = [_spans(200)[0] for _ in range(30)]
    bound = 3 * len(bodies[0])
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), max_backlog_bytes=bound, max_delay=3600)
    peak = [0]
    original = writer._converted

    def watched(item: object) -> None:
        peak[0] = max(peak[0], writer.stats.backlog_bytes)
        original(item)

    writer._converted = watched  # type: ignore[method-assign]
    try:  # queued before the writer starts: they reach the spool thread together
        results = answers(writer, TRACES, bodies, start=writer.start)
        refused = [r for r in results if isinstance(r, Backlogged)]
        acked = [r for r in results if isinstance(r, WriteResult)]
        assert refused
        assert acked
        assert len(refused) + len(acked) == len(bodies)
        assert peak[0] <= bound
        assert writer.flush(timeout=60)
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (200 * len(acked),)
    con.close()


def _start(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", _RUN_COLLECTOR, str(db)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert readable(process.stdout, 30), "the collector did not start"
    match = re.search(r"listening on (\S+)", process.stdout.readline())
    assert match is not None
    return process, match.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bytes_flipped_in_the_spool_lose_only_the_records_they_touch(collector_factory, tmp_path, seed) -> None:
    rng = random.Random(seed)
    db = tmp_path / "flip.duckdb"
    process, url = _start(db)
    acked: list[tuple[bytes, list[str]]] = []
    try:
        for _ in range(60):
            body, ids = _spans(rng.randrange(5, 60))
            assert httpx.post(f"{url}/v1/traces", content=body, headers=PB).status_code == 200
            acked.append((body, ids))
    finally:
        process.kill()  # acknowledged, none committed (the commit delay is an hour)
        process.communicate()
    segments = sorted(Path(f"{db}.spool").glob("*.spool"))
    assert len(segments) == 1
    original = segments[0].read_bytes()
    data = bytearray(original)
    flips = sorted(rng.sample(range(len(data)), 4))
    for offset in flips:
        data[offset] ^= 1 << rng.randrange(8)
    segments[0].write_bytes(bytes(data))
    # A record: 16 bytes of frame, 5 of meta, a 16-byte digest, then the body as sent.
    intact: list[str] = []
    for body, ids in acked:
        start = original.find(body)
        assert start > 0
        if not any(start - 37 <= f < start + len(body) for f in flips):
            intact += ids

    running = collector_factory(db, extra_args=["--spool"])
    health = httpx.get(f"{running.url}/healthz").json()["checks"]
    assert health["spool:damagedBytes"][0]["observedValue"] > 0
    # The request whose answer was lost is sent again: not stored twice.
    retried = httpx.post(f"{running.url}/v1/traces", content=acked[-1][0], headers=PB)
    assert retried.status_code == 200
    assert running.stop() == 0
    stored = _stored(db)
    assert len(stored) == len(set(stored))  # no duplicates
    assert set(intact) <= set(stored)  # every intact acknowledged record survived
    assert len(intact) >= sum(len(ids) for _, ids in acked) // 2
    assert f"segment {int(segments[0].stem)}: bytes" in "".join(running.output)


_RUN_SMALL_BACKLOG = """
import sys
from liveobs.correlator._collector import Collector
Collector(db=sys.argv[1], port=0, max_backlog_bytes=400_000).run(
    on_ready=lambda url: print("listening on", url, flush=True))
"""


def test_past_the_backlog_bound_requests_get_429_with_retry_after_and_acknowledged_ones_land(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    process = subprocess.Popen([sys.executable, "-c", _RUN_SMALL_BACKLOG, str(db)], stdout=subprocess.PIPE, text=True)
    acked: list[str] = []
    answers: list[tuple[int, str | None]] = []
    try:
        assert process.stdout is not None
        assert readable(process.stdout, 30), "the collector did not start"
        match = re.search(r"listening on (\S+)", process.stdout.readline())
        assert match is not None
        url = match.group(1)
        lock = threading.Lock()

        def send() -> None:
            with httpx.Client(timeout=60) as client:
                for _ in range(6):
                    body, ids = _spans(1000)
                    response = client.post(f"{url}/v1/traces", content=body, headers=PB)
                    with lock:
                        answers.append((response.status_code, response.headers.get("retry-after")))
                        if response.status_code == 200:
                            acked.extend(ids)

        senders = [threading.Thread(target=send) for _ in range(6)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        assert httpx.post(f"{url}/api/v1/flush", timeout=120).json()["committed"]
    finally:
        process.terminate()
        process.communicate(timeout=60)
    refused = [retry for status, retry in answers if status == 429]
    assert refused, "the senders should have outrun the converter"
    assert all(retry == "1" for retry in refused)
    assert {status for status, _ in answers} <= {200, 429}
    assert sorted(_stored(db)) == sorted(acked)


def test_small_requests_count_their_share_of_a_conversion_pass_against_the_backlog(tmp_path: Path) -> None:
    """One-span requests are a few hundred bytes each, but each costs a share of a conversion pass: the
    backlog counts each as at least MIN_BACKLOG_COST, so a flood of them is refused long before its bytes
    alone would reach the bound."""
    con = connect(tmp_path / "m.duckdb")
    bodies = [_spans(1)[0] for _ in range(100)]
    assert len(bodies[0]) < MIN_BACKLOG_COST // 4
    bound = 8 * MIN_BACKLOG_COST
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), max_backlog_bytes=bound, max_delay=3600)
    try:  # queued before the writer starts: they reach the spool thread together
        results = answers(writer, TRACES, bodies, start=writer.start)
        acked = [r for r in results if isinstance(r, WriteResult)]
        assert len([r for r in results if isinstance(r, Backlogged)]) == len(bodies) - len(acked)
        assert len(acked) == bound // MIN_BACKLOG_COST
        assert writer.flush(timeout=60)
        assert writer.stats.backlog_bytes == 0
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (len(acked),)
    con.close()
