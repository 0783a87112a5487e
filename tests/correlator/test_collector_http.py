"""The OTLP/HTTP contract of ``liveobs collect``: content types, gzip, answers, token, health, reads."""

from __future__ import annotations

import gzip
import json
import os

import duckdb
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from liveobs.conventions import keys
from liveobs.correlator._samples import sample_spans_request

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def otlp_json_spans(span_ids: list[str], trace_id: str = "5b8efff798038103d269b633813fc60c") -> dict:
    """An OTLP JSON body by the spec: hex ids, lowerCamelCase, integer enums, 64-bit ints as strings."""
    return {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": keys.SERVICE_NAME, "value": {"stringValue": "shop"}}]},
            "scopeSpans": [{
                "scope": {"name": "hand", "version": "1"},
                "spans": [{
                    "traceId": trace_id, "spanId": sid, "name": "GET /cart", "kind": 2,
                    "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": 1767225600000500000,
                    "attributes": [
                        {"key": keys.EVENT_ID, "value": {"stringValue": f"ev-{sid}"}},
                        {"key": "retries", "value": {"intValue": "2"}},
                        {"key": "ok", "value": {"boolValue": True}},
                    ],
                    "status": {"code": 2, "message": "failed"},
                } for sid in span_ids],
            }],
        }]
    }


def test_otlp_json_spans_land_and_answer_in_json(collector) -> None:
    body = otlp_json_spans(["eee19b7ec3c1b174", "eee19b7ec3c1b175"])
    response = httpx.post(f"{collector.url}/v1/traces", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    rows = con.execute(
        "SELECT TraceId, SpanId, SpanKind, Duration, SpanAttributes['retries'], SpanAttributes['ok'], StatusCode "
        "FROM otel_traces ORDER BY SpanId"
    ).fetchall()
    assert rows == [
        ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "Server", 500000, "2", "true", "Error"),
        ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b175", "Server", 500000, "2", "true", "Error"),
    ]
    assert con.execute("SELECT count(*) FROM liveobs_errors WHERE ErrorType = '_OTHER'").fetchone() == (2,)


def test_items_with_malformed_ids_are_rejected_with_partial_success(collector) -> None:
    body = otlp_json_spans(["eee19b7ec3c1b174", "abcd"])
    response = httpx.post(f"{collector.url}/v1/traces", json=body)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "malformed" in partial["errorMessage"]
    pb = sample_spans_request(3)
    pb.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02"
    response = httpx.post(f"{collector.url}/v1/traces", content=pb.SerializeToString(), headers=PB)
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(response.content)
    assert (response.status_code, answer.partial_success.rejected_spans) == (200, 1)
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (3,)


def test_gzip_bodies_are_accepted(collector) -> None:
    body = gzip.compress(sample_spans_request(50).SerializeToString())
    response = httpx.post(f"{collector.url}/v1/traces", content=body, headers={**PB, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert collector.stop() == 0
    assert duckdb.connect(str(collector.db), read_only=True).execute("SELECT count(*) FROM otel_traces").fetchone() == (50,)


@pytest.mark.parametrize(
    ("headers", "body", "status", "needle"),
    [
        ({"Content-Type": "text/plain"}, b"x", 415, "unsupported content type"),
        ({**PB, "Content-Encoding": "br"}, b"x", 415, "unsupported content encoding"),
        (JS, b"{not json", 400, "invalid JSON"),
        (JS, b"[]", 400, "must be a JSON object"),
        (PB, b"\x0a\xff\xff\xff\xff\x0f", 400, "invalid protobuf"),
        ({**PB, "Content-Encoding": "gzip"}, b"not gzip at all", 400, "invalid gzip"),
    ],
)
def test_bad_requests_get_a_clear_4xx(module_collector, headers, body, status, needle) -> None:
    response = httpx.post(f"{module_collector.url}/v1/traces", content=body, headers=headers)
    assert response.status_code == status
    if response.headers["content-type"] == "application/json":
        message = response.json()["message"]
    else:
        from google.rpc.status_pb2 import Status

        parsed = Status()
        parsed.ParseFromString(response.content)
        assert parsed.code == status
        message = parsed.message
    assert needle in message


def test_oversized_bodies_and_gzip_bombs_get_413(collector_factory) -> None:
    running = collector_factory(extra_args=["--max-body-bytes", str(1024 * 1024)])
    big = os.urandom(1024 * 1024 + 1)
    assert httpx.post(f"{running.url}/v1/traces", content=big, headers=PB).status_code == 413
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    response = httpx.post(f"{running.url}/v1/logs", content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    ok = httpx.post(f"{running.url}/v1/traces", content=sample_spans_request(5).SerializeToString(), headers=PB)
    assert ok.status_code == 200
    # The bomb was refused after inflating just past the limit, never to its 64 MiB.
    assert running.peak_rss_kib() < 400 * 1024


def test_bearer_token_is_required_when_configured(collector_factory) -> None:
    running = collector_factory(token="s3cret-token")
    body = sample_spans_request(2).SerializeToString()
    assert httpx.post(f"{running.url}/v1/traces", content=body, headers=PB).status_code == 401
    wrong = {**PB, "Authorization": "Bearer nope"}
    assert httpx.post(f"{running.url}/v1/traces", content=body, headers=wrong).status_code == 401
    assert httpx.post(f"{running.url}/api/v1/read/trace", json={}).status_code == 401
    right = {**PB, "Authorization": "Bearer s3cret-token"}
    assert httpx.post(f"{running.url}/v1/traces", content=body, headers=right).status_code == 200
    assert httpx.get(f"{running.url}/healthz").status_code == 200


def test_health_discovery_file_and_clean_shutdown(collector) -> None:
    health = httpx.get(f"{collector.url}/healthz")
    assert health.status_code == 200
    assert health.headers["content-type"] == "application/health+json"
    assert health.json()["status"] == "pass"
    discovery = collector.db.parent / (collector.db.name + ".collector.json")
    record = json.loads(discovery.read_text())
    assert record == {"url": collector.url, "pid": collector.process.pid, "db": str(collector.db)}
    assert collector.stop() == 0
    assert not discovery.exists()


def test_read_api_serves_registered_handlers_and_404s_unknown_ones(collector) -> None:
    httpx.post(f"{collector.url}/v1/traces", json=otlp_json_spans(["eee19b7ec3c1b174"]))
    unknown = httpx.post(f"{collector.url}/api/v1/read/no-such-handler", json={})
    assert unknown.status_code == 404
    assert "no-such-handler" in unknown.json()["message"]
    bad = httpx.post(f"{collector.url}/api/v1/read/incidents", content=b"[1]",
                     headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    answer = httpx.post(f"{collector.url}/api/v1/read/incidents", json={})
    assert answer.status_code == 200
    assert isinstance(answer.json(), list | dict)


def test_unknown_paths_and_methods(module_collector) -> None:
    assert httpx.get(f"{module_collector.url}/v1/traces").status_code == 405
    assert httpx.post(f"{module_collector.url}/v2/traces", content=b"").status_code == 404
