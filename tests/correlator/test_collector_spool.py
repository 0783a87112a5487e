"""The collector's durable spool: framing, torn tails, replay exactly once, flush barrier, drain."""

from __future__ import annotations

import logging
import os
import random
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import duckdb
import httpx
import pytest

from liveobs.correlator._db import connect
from liveobs.correlator._otlp import LOGS, PROTOBUF, TRACES
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._spool import SEGMENT_HEADER, Damage, Position, Spool, frame
from liveobs.correlator._spoolwriter import SpoolWriter
from liveobs.correlator._writer import WriteResult
from tests.waiting import readable

PB = {"Content-Type": PROTOBUF}


def _spans(n: int) -> tuple[bytes, list[str]]:
    request = sample_spans_request(n)
    return request.SerializeToString(), [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool"))


def _spooled(directory: Path, bodies: list[bytes]) -> None:
    """Records as a collector leaves them when killed after acknowledging, before committing."""
    spool = Spool(directory)
    assert list(spool.recover(Position(0, 0))) == []
    spool.append([frame(TRACES, PROTOBUF, body, None) for body in bodies])
    spool.close(empty=False)


def test_records_round_trip_and_a_torn_tail_is_skipped_and_logged(tmp_path: Path, caplog) -> None:
    spool = Spool(tmp_path / "s")
    list(spool.recover(Position(0, 0)))
    positions = spool.append([frame(TRACES, PROTOBUF, b"one", None), frame(LOGS, "application/json", b"{}", "f:1")])
    spool.append([frame(TRACES, PROTOBUF, b"three", None, b"d" * 16)])
    spool.close(empty=False)
    segment = _segments(tmp_path / "s")[0]
    intact = segment.stat().st_size
    with segment.open("ab") as file:  # a crash in the middle of an append
        file.write(frame(TRACES, PROTOBUF, b"never acknowledged", None)[0][:6])

    with caplog.at_level(logging.WARNING, logger="liveobs.correlator.spool"):
        reopened = Spool(tmp_path / "s")
        records = list(reopened.recover(Position(0, 0)))
    assert [(r.signal, r.media, r.body, r.source_key, r.digest) for _, r in records] == [
        (TRACES, PROTOBUF, b"one", None, b""), (LOGS, "application/json", b"{}", "f:1", b""),
        (TRACES, PROTOBUF, b"three", None, b"d" * 16),
    ]
    assert [p for p, _ in records][:2] == positions
    assert reopened.damage == [Damage(1, intact, 6, at_end=True)]
    assert f"segment 1: bytes {intact}-{intact + 6} (6 bytes) at its end hold no intact record" in caplog.text
    # Only what follows the committed position comes back; the next append starts a new segment.
    assert [r.body for _, r in Spool.recover(reopened, positions[1])] == [b"three"]
    assert reopened.append([frame(TRACES, PROTOBUF, b"four", None)])[0].segment == positions[0].segment + 1
    reopened.close(empty=True)
    assert _segments(tmp_path / "s") == []


def test_a_record_with_a_bad_checksum_is_skipped_alone_and_named_in_the_log(tmp_path: Path, caplog) -> None:
    spool = Spool(tmp_path / "s")
    list(spool.recover(Position(0, 0)))
    first = spool.append([frame(TRACES, PROTOBUF, b"kept", None)])[0]
    flipped, after = spool.append([frame(TRACES, PROTOBUF, b"flipped", None), frame(TRACES, PROTOBUF, b"after", None)])
    spool.close(empty=False)
    segment = _segments(tmp_path / "s")[0]
    size = segment.stat().st_size
    data = bytearray(segment.read_bytes())
    data[flipped.offset - 2] ^= 0xFF  # in the body of the second record
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="liveobs.correlator.spool"):
        reopened = Spool(tmp_path / "s")
        records = list(reopened.recover(Position(0, 0)))
    assert [r.body for _, r in records] == [b"kept", b"after"]
    assert [p for p, _ in records] == [first, after]
    lost = flipped.offset - first.offset
    assert reopened.damage == [Damage(1, first.offset, lost, at_end=False)]
    assert f"segment 1: bytes {first.offset}-{flipped.offset} ({lost} bytes) are damaged" in caplog.text
    assert segment.stat().st_size == size  # nothing is truncated: the damaged bytes stay for inspection
    reopened.close(empty=False)


def _v1_record(body: bytes, signal_code: int = 1, media_code: int = 1) -> bytes:
    """A record as segments were framed before the segment header (u32 length, u32 CRC, meta, body)."""
    rest = struct.pack("<BBH", signal_code, media_code, 0) + body
    return struct.pack("<II", len(rest), zlib.crc32(rest)) + rest


def test_segments_of_the_previous_format_still_replay_and_resynchronise(tmp_path: Path, caplog) -> None:
    directory = tmp_path / "old"
    directory.mkdir()
    records = [_v1_record(f"old record {n}".encode() * 3) for n in range(6)]
    data = bytearray(b"".join(records))
    data[len(records[0]) + 3] ^= 0x40  # the length of the second record
    (directory / "0000000000000001.spool").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="liveobs.correlator.spool"):
        spool = Spool(directory)
        bodies = [r.body for _, r in spool.recover(Position(0, 0))]
    assert bodies == [f"old record {n}".encode() * 3 for n in (0, 2, 3, 4, 5)]
    assert spool.damage == [Damage(1, len(records[0]), len(records[1]), at_end=False)]
    # New records go to a new segment in the current format.
    position = spool.append([frame(TRACES, PROTOBUF, b"new", None)])[0]
    assert position.segment == 2
    assert (directory / "0000000000000002.spool").read_bytes().startswith(SEGMENT_HEADER)
    spool.close(empty=False)


@pytest.mark.parametrize("seed", range(12))
def test_flipped_bytes_anywhere_lose_only_the_records_they_touch(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    spool = Spool(tmp_path / "s", segment_bytes=20_000)
    list(spool.recover(Position(0, 0)))
    written: list[tuple[Position, bytes]] = []  # (end, body) of every acknowledged record
    starts: dict[Position, int] = {}
    for _batch in range(40):
        bodies = [rng.randbytes(rng.randrange(20, 900)) for _ in range(rng.randrange(1, 6))]
        before = spool._size if spool._fd is not None and spool._size < spool.segment_bytes else len(SEGMENT_HEADER)
        frames = [frame(TRACES, PROTOBUF, body, None, rng.randbytes(16)) for body in bodies]
        positions = spool.append(frames)
        for (head, body), position in zip(frames, positions, strict=True):
            starts[position] = position.offset - len(head) - len(body)
            written.append((position, body))
        assert starts[positions[0]] == before
    spool.close(empty=False)
    flips: dict[int, set[int]] = {}
    for path in _segments(tmp_path / "s"):
        number = int(path.stem)
        data = bytearray(path.read_bytes())
        for offset in rng.sample(range(len(data)), rng.randrange(1, 4)):
            data[offset] ^= 1 << rng.randrange(8)
            flips.setdefault(number, set()).add(offset)
        path.write_bytes(bytes(data))

    spool = Spool(tmp_path / "s")
    recovered = [(position, record.body) for position, record in spool.recover(Position(0, 0))]
    spool.close(empty=False)
    intact = [
        (position, body) for position, body in written
        if not any(starts[position] <= f < position.offset for f in flips.get(position.segment, ()))
    ]
    # Every record whose bytes were not touched comes back, in order, once; nothing else comes back.
    assert recovered == intact
    assert len(intact) < len(written)
    assert sum(d.size for d in spool.damage) == sum(
        position.offset - starts[position] for position, _ in written if (position, _) not in intact
    ) + sum(1 for n, offsets in flips.items() for f in offsets if f < len(SEGMENT_HEADER))


def test_spooled_records_are_replayed_into_the_store_exactly_once(tmp_path: Path) -> None:
    bodies = [_spans(50)[0] for _ in range(3)]
    _spooled(tmp_path / "spool", bodies)
    db = tmp_path / "r.duckdb"
    for run in range(2):
        con = connect(db)
        writer = SpoolWriter(con, Spool(tmp_path / "spool")).start()
        assert writer.stats.replayed == (3 if run == 0 else 0)
        writer.close()
        assert con.execute("SELECT count(*), count(DISTINCT SpanId) FROM otel_traces").fetchone() == (150, 150)
        assert con.execute("SELECT count(*) FROM liveobs_correlation WHERE Signal = 'span'").fetchone() == (150,)
        con.close()
        assert _segments(tmp_path / "spool") == []


def test_acknowledged_requests_wait_for_the_threshold_and_a_flush_commits_them(tmp_path: Path) -> None:
    con = connect(tmp_path / "f.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), commit_rows=10_000, max_delay=3600).start()
    try:
        assert writer.write(TRACES, _spans(100)[0]) == WriteResult(100, 0)
        assert writer.stats.commits == 0  # durable in the spool, not yet in the store
        assert writer.flush(timeout=30)
        assert con.cursor().execute("SELECT count(*) FROM otel_traces").fetchone() == (100,)
        for _ in range(120):
            writer.write(TRACES, _spans(100)[0])
        deadline = time.monotonic() + 30  # the committer starts once 10,000 rows wait, without a flush
        while writer.stats.commits < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.stats.commits == 2
        assert writer.stats.max_commit_rows >= 10_000
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (12_100,)
    con.close()


def test_a_ledger_key_is_stored_once_and_its_duplicate_reported(tmp_path: Path) -> None:
    con = connect(tmp_path / "k.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), max_delay=3600).start()
    try:
        body = _spans(5)[0]
        assert writer.write(TRACES, body, source_key="file:0", timeout=30) == WriteResult(5, 0)
        assert writer.write(TRACES, body, source_key="file:0", timeout=30) == WriteResult(0, 0, duplicate=True)
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (5,)
    con.close()


_RUN_COLLECTOR = """
import sys
from liveobs.correlator._collector import Collector
Collector(db=sys.argv[1], port=0, spool=True, max_commit_delay=3600).run(
    on_ready=lambda url: print("listening on", url, flush=True))
"""


@pytest.mark.slow
def test_kill_9_after_the_spool_acknowledged_and_before_the_commit_loses_nothing(tmp_path: Path,
                                                                                 collector_factory) -> None:
    db = tmp_path / "k9.duckdb"
    process = subprocess.Popen([sys.executable, "-c", _RUN_COLLECTOR, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert readable(process.stdout, 30), "the collector did not start"
        match = re.search(r"listening on (\S+)", process.stdout.readline())
        assert match is not None
        acked: list[str] = []
        for _ in range(5):
            body, ids = _spans(200)
            assert httpx.post(f"{match.group(1)}/v1/traces", content=body, headers=PB).status_code == 200
            acked += ids
    finally:
        process.kill()
        process.communicate()
    assert _segments(Path(f"{db}.spool"))

    running = collector_factory(db, extra_args=["--spool"])
    health = httpx.get(f"{running.url}/healthz").json()["checks"]
    assert health["spool:replayed"][0]["observedValue"] == 5
    assert running.stop() == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), count(DISTINCT SpanId) FROM otel_traces").fetchone() == (1000, 1000)
    assert {r[0] for r in con.execute("SELECT SpanId FROM otel_traces").fetchall()} == set(acked)


def test_reads_and_flush_see_every_acknowledged_request_at_once(collector_factory) -> None:
    running = collector_factory(extra_args=["--spool"])
    body, _ = _spans(30)
    assert httpx.post(f"{running.url}/v1/traces", content=body, headers=PB).status_code == 200
    health = httpx.get(f"{running.url}/healthz").json()["checks"]
    assert health["store:rows"][0]["observedValue"] + health["store:pendingRows"][0]["observedValue"] == 30
    flushed = httpx.post(f"{running.url}/api/v1/flush")
    assert flushed.status_code == 200
    assert flushed.json() == {"committed": True, "rows": 30, "pendingRows": 0}
    for _ in range(3):
        request = sample_spans_request(1)
        span = request.resource_spans[0].scope_spans[0].spans[0]
        response = httpx.post(f"{running.url}/v1/traces", content=request.SerializeToString(), headers=PB)
        assert response.status_code == 200
        answer = httpx.post(f"{running.url}/api/v1/read/trace", json={"trace_id": span.trace_id.hex()})
        assert answer.status_code == 200, answer.text
        assert span.span_id.hex() in answer.text
    assert httpx.get(f"{running.url}/healthz").json()["checks"]["store:rows"][0]["observedValue"] == 33
    assert httpx.get(f"{running.url}/api/v1/flush").status_code == 405


def test_a_clean_shutdown_commits_everything_and_empties_the_spool(collector_factory, tmp_path: Path) -> None:
    spool_dir = tmp_path / "elsewhere"
    running = collector_factory(extra_args=["--spool", "--spool-dir", str(spool_dir)])
    acked: list[str] = []
    for _ in range(4):
        body, ids = _spans(100)
        assert httpx.post(f"{running.url}/v1/traces", content=body, headers=PB).status_code == 200
        acked += ids
    assert _segments(spool_dir)
    assert running.stop() == 0
    assert not spool_dir.exists()  # nothing left to replay: no segments, no lock file, no directory
    assert not os.path.exists(f"{running.db}.spool")
    con = duckdb.connect(str(running.db), read_only=True)
    assert sorted(r[0] for r in con.execute("SELECT SpanId FROM otel_traces").fetchall()) == sorted(acked)


def test_a_spool_left_beside_a_store_that_is_gone_is_refused_not_replayed(tmp_path: Path) -> None:
    db = tmp_path / "fresh.duckdb"
    body, _ = _spans(10)
    _spooled(Path(f"{db}.spool"), [body])
    result = subprocess.run(
        [sys.executable, "-m", "liveobs.cli", "--db", str(db), "collect", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "holds requests of an earlier store" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(_segments(Path(f"{db}.spool"))) == 1  # kept for whoever restores the store
    assert not db.exists()  # not created: a second start refuses the same way
    again = subprocess.run(
        [sys.executable, "-m", "liveobs.cli", "--db", str(db), "collect", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert again.returncode == result.returncode
    assert not db.exists()


def _large_values_request(seed: int, spans: int, size: int) -> bytes:
    """``spans`` spans, each with a distinct ``size``-character attribute value."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for n in range(spans):
        span = scope.spans.add(trace_id=bytes.fromhex(f"{seed:016x}{n:016x}"), span_id=bytes.fromhex(f"{seed:08x}{n:08x}"),
                               name="GET /x", start_time_unix_nano=1767225600000000000,
                               end_time_unix_nano=1767225600000100000)
        span.attributes.add(key="payload").value.string_value = f"{seed}-{n}-".ljust(size, "x")
    return bytes(request.SerializeToString())


def test_acknowledged_bodies_wait_for_conversion_in_the_spool_not_in_memory(tmp_path: Path) -> None:
    import threading
    import tracemalloc

    con = connect(tmp_path / "m.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), max_delay=3600)
    held_up = threading.Event()
    load = writer._load

    def paused(item: object) -> None:  # the converter stops at its first request until released
        held_up.wait(60)
        load(item)  # type: ignore[arg-type]

    writer._load = paused  # type: ignore[method-assign]
    writer.start()
    requests, size = 24, 1_000_000
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for seed in range(requests):  # 24 MB acknowledged while nothing is converted
            assert writer.write(TRACES, _large_values_request(seed, 1, size), timeout=60) == WriteResult(1, 0)
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
        held_up.set()
    try:
        assert writer.stats.backlog_bytes >= requests * size
        # Before, each acknowledged body stayed in memory until converted (24 MB here).
        assert held < 4 * size, f"{held / 2**20:.1f} MiB held"
        assert writer.flush(timeout=120)
    finally:
        writer.close()
    assert con.execute("SELECT count(*), sum(length(SpanAttributes['payload'])) FROM otel_traces").fetchone() == (
        requests, requests * size)
    con.close()


def test_converted_rows_are_committed_once_they_hold_the_commit_bytes(tmp_path: Path) -> None:
    con = connect(tmp_path / "c.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), max_delay=3600, commit_bytes=2_000_000,
                         max_pending_bytes=3_000_000).start()
    try:
        for seed in range(12):  # about 500 kB of Arrow data each; far from a row group, no flush asked for
            writer.write(TRACES, _large_values_request(seed, 5, 100_000), timeout=60)
        deadline = time.monotonic() + 60
        while writer.stats.commits < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer.stats.commits >= 2
        assert writer.stats.max_commit_rows < 60
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (60,)
    con.close()
