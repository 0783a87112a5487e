"""``kill -9`` under sustained ingest: every acknowledged span survives, none twice."""

from __future__ import annotations

import threading
import time

import duckdb
import httpx
import pyarrow as pa
import pytest

from liveobs.correlator._samples import sample_spans_request

SENDERS = 4
SPANS_PER_REQUEST = 200
INGEST_SECONDS = 2.5


def _sender(url: str, stop: threading.Event, acked: list[str], attempted: list[str]) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            request = sample_spans_request(SPANS_PER_REQUEST)
            ids = [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]
            attempted.extend(ids)
            try:
                response = client.post(
                    f"{url}/v1/traces", content=request.SerializeToString(),
                    headers={"Content-Type": "application/x-protobuf"},
                )
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                acked.extend(ids)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--spool", "--no-spool"])
def test_every_acknowledged_span_survives_kill_9_exactly_once(collector_factory, tmp_path, mode) -> None:
    db = tmp_path / "crash.duckdb"
    first = collector_factory(db, extra_args=[mode])
    stop = threading.Event()
    acked: list[list[str]] = [[] for _ in range(SENDERS)]
    attempted: list[list[str]] = [[] for _ in range(SENDERS)]
    threads = [
        threading.Thread(target=_sender, args=(first.url, stop, acked[i], attempted[i])) for i in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(INGEST_SECONDS)
    first.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    acknowledged = [sid for ids in acked for sid in ids]
    sent = {sid for ids in attempted for sid in ids}
    assert len(acknowledged) >= SPANS_PER_REQUEST * SENDERS, "the senders should have been acknowledged a few times"

    second = collector_factory(db, extra_args=[mode])  # recovery: DuckDB's write-ahead log, then the spool
    assert second.stop() == 0
    con = duckdb.connect(str(db), read_only=True)
    con.register("acked", pa.table({"SpanId": pa.array(acknowledged, pa.string())}))
    assert con.execute("SELECT count(*) FROM (SELECT SpanId FROM otel_traces GROUP BY SpanId HAVING count(*) > 1)").fetchone() == (0,)
    found = con.execute("SELECT count(*) FROM otel_traces JOIN acked USING (SpanId)").fetchone()
    assert found == (len(acknowledged),)
    stored = {r[0] for r in con.execute("SELECT SpanId FROM otel_traces").fetchall()}
    # Rows beyond the acknowledged ones can only be requests committed whose answer the kill cut off.
    assert stored <= sent
    assert len(stored) - len(acknowledged) <= SENDERS * SPANS_PER_REQUEST
    correlation = con.execute("SELECT count(*) FROM liveobs_correlation WHERE Signal = 'span'").fetchone()
    assert correlation == (len(stored),)
