"""The collector under attack, on 127.0.0.1 and bounded in count and time: gzip member bombs and slow
clients. During each attack ``/healthz`` answers within a second and good spans sent alongside land."""

from __future__ import annotations

import gzip
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import httpx
import pytest
from test_collector_http import otlp_json_spans

from liveobs.correlator._decompress import MAX_GZIP_MEMBERS, decode_body, gunzip
from liveobs.correlator._otlp import BodyTooLarge, MalformedBody

HEALTH_DEADLINE_S = 1.0
# The memory bound during the gzip and slow-client attacks: 300 MiB of peak RSS for the collector's process,
# and 300 MiB for its conversion process (spool mode), which these attacks must not grow either.
PEAK_RSS_BOUND_KIB = 300 * 1024
CONVERSION_RSS_BOUND_KIB = 300 * 1024
SLOW_CLIENTS = 1030


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _health_seconds(url: str) -> float:
    started = time.monotonic()
    response = httpx.get(f"{url}/healthz", timeout=10)
    assert response.status_code == 200
    return time.monotonic() - started


def _send_marker(url: str, span_id: str) -> int:
    return httpx.post(f"{url}/v1/traces", json=otlp_json_spans([span_id]), timeout=10).status_code


def _stored_span_ids(running) -> set[str]:
    assert running.stop() == 0
    with duckdb.connect(str(running.db), read_only=True) as con:
        return {row[0] for row in con.execute("SELECT SpanId FROM otel_traces").fetchall()}


# --- decompression ----------------------------------------------------------------------------------------


def test_gunzip_is_linear_in_members() -> None:
    # 1,000 members of 16 KiB of incompressible data (16 MiB): handing each member the whole rest of the
    # body copied about 8 GB; fed in slices it is one pass.
    members = [gzip.compress(os.urandom(16 * 1024), compresslevel=1) for _ in range(MAX_GZIP_MEMBERS)]
    body = b"".join(members)
    started = time.perf_counter()
    plain = gunzip(body, 32 * 1024 * 1024)
    elapsed = time.perf_counter() - started
    assert len(plain) == MAX_GZIP_MEMBERS * 16 * 1024
    assert elapsed < 1.0, f"{elapsed:.2f} s for {len(body)} bytes"


def test_gunzip_joins_members_and_refuses_too_many_or_too_much() -> None:
    assert gunzip(gzip.compress(b"abc") + gzip.compress(b"def"), 100) == b"abcdef"
    with pytest.raises(MalformedBody, match="more than 1000 members"):
        gunzip(gzip.compress(b"") * (MAX_GZIP_MEMBERS + 1), 100)
    with pytest.raises(BodyTooLarge):
        gunzip(gzip.compress(b"\0" * 10_001), 10_000)
    with pytest.raises(MalformedBody, match="truncated"):
        gunzip(gzip.compress(b"x" * 1000)[:-9], 10_000)
    with pytest.raises(MalformedBody, match="invalid gzip"):
        gunzip(gzip.compress(b"abc") + b"garbage", 100)


def test_deflate_in_both_framings_with_a_cap() -> None:
    text = b"deflate me " * 1000
    assert decode_body(zlib.compress(text), "deflate", len(text)) == text
    raw = zlib.compressobj(wbits=-15)
    assert decode_body(raw.compress(text) + raw.flush(), "deflate", len(text)) == text
    with pytest.raises(BodyTooLarge):
        decode_body(zlib.compress(text), "deflate", len(text) - 1)
    with pytest.raises(MalformedBody, match="after the end"):
        decode_body(zlib.compress(text) + b"x", "deflate", len(text))


def test_a_deflate_request_lands(collector) -> None:
    import json

    body = zlib.compress(json.dumps(otlp_json_spans(["dddd000000000001"])).encode())
    response = httpx.post(f"{collector.url}/v1/traces", content=body,
                          headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
    assert response.status_code == 200
    assert "dddd000000000001" in _stored_span_ids(collector)


def test_gzip_member_bombs_neither_stall_the_collector_nor_block_good_data(collector) -> None:
    # 200,000 empty members (3.8 MiB) froze the collector for 9 s; 786,432 (15 MiB) for about 140 s.
    bombs = [gzip.compress(b"", 9) * 200_000, gzip.compress(b"", 9) * 786_432,
             gzip.compress(b"", 9) * (MAX_GZIP_MEMBERS - 1) + gzip.compress(b"\0" * (20 * 1024 * 1024))]
    answers: list[tuple[int, float]] = []

    def attack() -> None:
        for body in bombs:
            started = time.monotonic()
            response = httpx.post(f"{collector.url}/v1/traces", content=body, timeout=60, headers={
                "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
            answers.append((response.status_code, time.monotonic() - started))

    attacker = threading.Thread(target=attack)
    attacker.start()
    health: list[float] = []
    markers: list[int] = []
    while attacker.is_alive() or not health:
        health.append(_health_seconds(collector.url))
        markers.append(_send_marker(collector.url, f"aaaa{len(markers):012x}"))
    attacker.join(timeout=60)
    # Measured peak: 209 MiB (the collector alone idles at about 175 MiB).
    assert collector.peak_rss_kib() < PEAK_RSS_BOUND_KIB
    assert collector.conversion_peak_rss_kib() < CONVERSION_RSS_BOUND_KIB
    assert [status for status, _ in answers] == [400, 400, 413]
    assert max(seconds for _, seconds in answers) < 5.0, answers
    assert max(health) < HEALTH_DEADLINE_S, health
    assert markers == [200] * len(markers)
    stored = _stored_span_ids(collector)
    assert {f"aaaa{n:012x}" for n in range(len(markers))} <= stored


# --- slow clients -------------------------------------------------------------------------------------------


@contextmanager
def _slow_clients(port: int, count: int, first_bytes: bytes) -> Iterator[list[socket.socket]]:
    """``count`` connections that each send ``first_bytes`` and then nothing; all closed on exit."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(first_bytes)
            held.append(sock)
        yield held
    finally:
        for sock in held:
            sock.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(0.0)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


HALF_HEADERS = b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
HALF_BODY = (b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 100000\r\n\r\n{\"resourceSpans\"")


@pytest.mark.parametrize("first_bytes", [HALF_HEADERS, HALF_BODY], ids=["headers", "body"])
def test_a_thousand_slow_clients_do_not_make_good_requests_fail(
    collector_factory: Callable[..., object], first_bytes: bytes
) -> None:
    # Timeouts longer than the test: what keeps the service up here is the connection cap shedding the
    # connection that waited longest on its client.
    running = collector_factory(extra_args=["--header-timeout", "60", "--body-timeout", "60"])
    markers: list[int] = []
    health: list[float] = []
    with _slow_clients(_port(running.url), SLOW_CLIENTS, first_bytes) as held:
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            health.append(_health_seconds(running.url))
            markers.append(_send_marker(running.url, f"bbbb{len(markers):012x}"))
        shed = sum(_closed_by_peer(sock) for sock in held)
    # Measured peak: 192 MiB with 1,030 slow clients.
    assert running.peak_rss_kib() < PEAK_RSS_BOUND_KIB
    assert running.conversion_peak_rss_kib() < CONVERSION_RSS_BOUND_KIB
    assert len(markers) >= 5
    assert markers == [200] * len(markers)
    assert max(health) < HEALTH_DEADLINE_S, health
    # Each good connection past the cap (1,024) closed one slow client, the longest waiting first.
    assert shed >= SLOW_CLIENTS - 1024
    stored = _stored_span_ids(running)
    assert {f"bbbb{n:012x}" for n in range(len(markers))} <= stored


@pytest.mark.parametrize("first_bytes", [HALF_HEADERS, HALF_BODY], ids=["headers", "body"])
def test_unfinished_headers_and_bodies_are_closed_after_their_timeout(
    collector_factory: Callable[..., object], first_bytes: bytes
) -> None:
    running = collector_factory(extra_args=["--header-timeout", "1", "--body-timeout", "1"])
    with _slow_clients(_port(running.url), 20, first_bytes) as held:
        time.sleep(0.5)
        assert not any(_closed_by_peer(sock) for sock in held)
        time.sleep(1.5)
        assert all(_closed_by_peer(sock) for sock in held)
    health = httpx.get(f"{running.url}/healthz").json()["checks"]
    assert health["http:closedSlowConnections"][0]["observedValue"] == 20
    assert _send_marker(running.url, "cccc000000000001") == 200


def test_a_drip_fed_header_is_closed_on_time(collector_factory: Callable[..., object]) -> None:
    # One byte every 0.2 s keeps a connection busy but never finishes the headers.
    running = collector_factory(extra_args=["--header-timeout", "1"])
    with _slow_clients(_port(running.url), 1, b"P") as (sock,):
        started = time.monotonic()
        closed = False
        for byte in b"OST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40:
            time.sleep(0.2)
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if _closed_by_peer(sock):
                closed = True
                break
        assert closed
        assert time.monotonic() - started < 2.5


# --- memory: caches bounded in bytes --------------------------------------------------------------------


def _distinct_values_request(seed: int, values: int, size: int, *, long_keys: bool = False, repeat: int = 1) -> bytes:
    """``repeat`` spans per value, each value a distinct ``size``-character value under an id key (or, with
    ``long_keys``, under a distinct ``size``-character key)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from liveobs.conventions import keys

    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    for n in range(values * repeat):
        span = spans.spans.add(trace_id=bytes.fromhex(f"{seed:016x}{n:016x}"), span_id=bytes.fromhex(f"{seed:08x}{n:08x}"),
                               name="GET /x", start_time_unix_nano=1767225600000000000,
                               end_time_unix_nano=1767225600000100000)
        text = f"{seed}-{n // repeat}-".ljust(size, "x")
        attribute = span.attributes.add(key=text if long_keys else keys.SESSION_ID)
        attribute.value.string_value = "v" if long_keys else text
    return bytes(request.SerializeToString())


def _interner_bytes(interner: Any) -> int:
    """What the interner's own structures reference: remembered raw attributes, pair texts, key names."""
    import sys

    texts = [*interner, *interner.pair_keys, *interner.pair_values, *interner.key_numbers]
    return sum(sys.getsizeof(text) for text in texts)


def test_the_attribute_interner_holds_a_bounded_number_of_bytes() -> None:
    import gc
    import tracemalloc

    from liveobs.correlator._rawspans import DEFAULT_INTERNED_BYTES, AttributeInterner, raw_trace_request
    from liveobs.correlator._scrub import IngestScrubber
    from liveobs.correlator._spans import spans_table

    scrubber = IngestScrubber()
    interner = AttributeInterner(scrubber)
    bound = 24 * 1024 * 1024
    # One-time costs stay out of the count: pyarrow imports pandas on its first conversion when pandas is installed.
    spans_table(raw_trace_request(_distinct_values_request(999, 1, 10)), scrubber, AttributeInterner(scrubber))
    # Before: 40 requests x 4 distinct 1 MB values kept 160 pairs, about 309 MiB of heap.
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for seed in range(40):
            converted = spans_table(raw_trace_request(_distinct_values_request(seed, 4, 1_000_000)), scrubber, interner)
            assert converted is not None
            del converted
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert held < bound, f"{held / 2**20:.1f} MiB held"
    # Distinct 1 MB keys: the interner's own structures stay bounded (the scrubber's key cache is its own).
    for seed in range(40, 80):
        spans_table(raw_trace_request(_distinct_values_request(seed, 4, 1_000_000, long_keys=True)), scrubber, interner)
        assert _interner_bytes(interner) < bound
    # Short attributes met more than once in a request are remembered across requests; ids met once are not.
    small = _distinct_values_request(99, 50, 20, repeat=2)
    spans_table(raw_trace_request(small), scrubber, interner)
    remembered = len(interner)
    spans_table(raw_trace_request(small), scrubber, interner)
    assert len(interner) == remembered >= 50
    spans_table(raw_trace_request(_distinct_values_request(98, 500, 32)), scrubber, interner)
    assert len(interner) == remembered
    assert interner.held_bytes <= DEFAULT_INTERNED_BYTES


def _rss_kib(pid: int) -> int:
    import re
    from pathlib import Path

    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match.group(1))


def test_distinct_large_values_do_not_pile_up_in_the_collector(collector_factory) -> None:
    # Committed per request (no spool), so that what grows is what the collector keeps between requests:
    # 160 MB of distinct values, which the interner used to keep twice (raw and decoded: 320 MB).
    running = collector_factory(extra_args=["--no-spool"])
    headers = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(f"{running.url}/v1/traces", content=_distinct_values_request(1000, 4, 1_000),
                      headers=headers).status_code == 200
    before = _rss_kib(running.process.pid)
    health: list[float] = []
    for seed in range(40):
        response = httpx.post(f"{running.url}/v1/traces", content=_distinct_values_request(seed, 4, 1_000_000),
                              headers=headers, timeout=60)
        assert response.status_code == 200
        if seed % 10 == 0:
            health.append(_health_seconds(running.url))
    assert _send_marker(running.url, "eeee000000000001") == 200
    time.sleep(1.0)
    grown_mib = (_rss_kib(running.process.pid) - before) / 1024
    # Measured: +165 MiB (DuckDB's block cache of the stored values, allocator arenas), flat after the
    # tenth request; the old interner alone kept 320 MB more.
    assert grown_mib < 240, f"RSS grew by {grown_mib:.0f} MiB"
    assert max(health) < HEALTH_DEADLINE_S
    assert "eeee000000000001" in _stored_span_ids(running)


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(collector_factory) -> None:
    running = collector_factory(extra_args=["--idle-timeout", "0.5"])
    with socket.create_connection(("127.0.0.1", _port(running.url)), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        started = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # the answer, then the end of the stream once idle
            received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        assert 0.4 < time.monotonic() - started < 3.0


def test_the_cli_states_the_transport_defaults_it_applies() -> None:
    from liveobs.cli import _collect
    from liveobs.correlator._connections import ConnectionLimits

    defaults = ConnectionLimits()
    stated = (_collect.DEFAULT_HEADER_TIMEOUT_S, _collect.DEFAULT_BODY_TIMEOUT_S, _collect.DEFAULT_IDLE_TIMEOUT_S,
              _collect.DEFAULT_MAX_CONNECTIONS)
    assert stated == (defaults.header_timeout, defaults.body_timeout, defaults.idle_timeout, defaults.max_connections)


def test_a_client_that_never_reads_its_answer_is_dropped(collector_factory) -> None:
    running = collector_factory(extra_args=["--body-timeout", "1"])
    trace_id = "51077ead51077ead51077ead51077ead"
    big = otlp_json_spans(["51077ead00000001"], trace_id=trace_id)
    big["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
        {"key": "payload", "value": {"stringValue": "y" * (8 * 1024 * 1024)}})
    assert httpx.post(f"{running.url}/v1/traces", json=big, timeout=60).status_code == 200
    body = b'{"trace_id": "%s"}' % trace_id.encode()
    request = (b"POST /api/v1/read/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.connect(("127.0.0.1", _port(running.url)))
        sock.sendall(request)
        deadline = time.monotonic() + 10
        closed = 0
        while time.monotonic() < deadline and not closed:
            time.sleep(0.5)
            health = httpx.get(f"{running.url}/healthz", timeout=5).json()["checks"]
            closed = health["http:closedSlowConnections"][0]["observedValue"]
        assert closed == 1
        assert _send_marker(running.url, "51077ead00000002") == 200
    finally:
        sock.close()
