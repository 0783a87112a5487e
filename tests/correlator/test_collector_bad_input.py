"""Malformed bodies get a 4xx with a message; the collector stays up and good data still lands."""

from __future__ import annotations

import gzip
import json

import duckdb
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from liveobs.correlator._rawspans import RawTraceRequest
from liveobs.correlator._samples import sample_spans_request

PB = "application/x-protobuf"
JS = "application/json"
GOOD = sample_spans_request(20).SerializeToString()


def _with_raw_span_field(field: str, raw: bytes, good: bytes = GOOD) -> bytes:
    """``good`` with one more span whose ``field`` holds ``raw``: bytes that are no valid message."""
    request = RawTraceRequest.FromString(good)
    span = request.resource_spans[0].scope_spans[0].spans.add()
    span.trace_id, span.span_id = b"\x01" * 16, b"\x02" * 8
    if field == "status":
        span.status = raw
    else:
        getattr(span, field).append(raw)
    return bytes(request.SerializeToString())


# Hand-made corpus: (content type, encoding, body).
CORPUS = [
    (PB, "", GOOD[: len(GOOD) // 2]),  # truncated in the middle of a span
    (PB, "", b"\x0a\x05\x0a\x03\x0a\x01"),  # nested lengths that overrun their parent
    (PB, "", b"\x0b" * 10),  # start-group wire type without end
    (PB, "", b"\x0a" + b"\xff" * 11),  # varint length longer than 10 bytes
    (JS, "", b"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"traceId\": 5}]}]}]}"),
    (JS, "", b"{\"resourceSpans\": \"nope\"}"),
    (JS, "", b"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"startTimeUnixNano\": \"soon\"}]}]}]}"),
    (JS, "", b"[" * 100_000 + b"]" * 100_000),  # deep nesting
    (JS, "", b"\xff\xfe{}"),  # not UTF-8
    (JS, "", b"{\"resourceLogs\": [{\"scopeLogs\": [{\"logRecords\": [{\"spanId\": \"xyz\"}]}]}]}"),
    (PB, "gzip", gzip.compress(GOOD)[:-12]),  # truncated gzip stream
    (PB, "gzip", b"\x1f\x8b\x08\x00" + b"\x00" * 20),  # gzip header, garbage deflate
    (JS, "gzip", gzip.compress(b"{not json")),
]


# One bad span among good ones: (span field, its raw bytes). The good spans are kept (partial success).
BAD_SPANS = [
    ("attributes", b"\x0a\x05ab"),  # key overruns the attribute
    ("attributes", b"\x0a\x02\xff\xfe"),  # key not UTF-8
    ("events", b"\x2a\x09\x0a\x01k"),  # attribute overruns the event
    ("links", b"\x0b"),  # start-group without end
    ("status", b"\x12\x02\xc3\x28"),  # message not UTF-8
]


def _answer_is_clear_4xx(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.status_code
    if response.headers["content-type"] == JS:
        assert response.json()["message"]
    else:
        from google.rpc.status_pb2 import Status

        status = Status()
        status.ParseFromString(response.content)
        assert status.code == response.status_code
        assert status.message


@pytest.mark.parametrize(("content_type", "encoding", "body"), CORPUS)
def test_corpus_of_malformed_bodies_gets_a_clear_4xx(module_collector, content_type, encoding, body) -> None:
    path = "/v1/logs" if b"resourceLogs" in body else "/v1/traces"
    headers = {"Content-Type": content_type, **({"Content-Encoding": encoding} if encoding else {})}
    _answer_is_clear_4xx(httpx.post(f"{module_collector.url}{path}", content=body, headers=headers))
    assert httpx.get(f"{module_collector.url}/healthz").status_code == 200


@pytest.mark.parametrize(("field", "raw"), BAD_SPANS)
def test_a_bad_span_is_rejected_alone_with_a_partial_success_answer(module_collector, field, raw) -> None:
    request = sample_spans_request(20)
    good = [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]
    body = _with_raw_span_field(field, raw, request.SerializeToString())
    response = httpx.post(f"{module_collector.url}/v1/traces", content=body, headers={"Content-Type": PB})
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert "could not be read" in answer.partial_success.error_message
    assert response.headers["x-liveobs-rows"] == "20"
    # The same request again (its answer was lost): taken, not stored twice.
    again = httpx.post(f"{module_collector.url}/v1/traces", content=body, headers={"Content-Type": PB})
    assert again.status_code == 200
    assert again.headers["x-liveobs-duplicate"] == "1"
    stored = httpx.post(f"{module_collector.url}/api/v1/read/trace",
                        json={"trace_id": request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()})
    assert stored.status_code == 200
    assert all(span_id in stored.text for span_id in good[:4])
    assert len(stored.json()["spans"]) == 4


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(st.binary(max_size=2048), st.builds(lambda b, cut: b[:cut], st.just(GOOD), st.integers(0, len(GOOD)))),
    path=st.sampled_from(["/v1/traces", "/v1/logs", "/v1/metrics"]),
    content_type=st.sampled_from([PB, JS]),
    gzipped=st.booleans(),
)
def test_arbitrary_bodies_never_take_the_collector_down(module_collector, body, path, content_type, gzipped) -> None:
    headers = {"Content-Type": content_type}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    response = httpx.post(f"{module_collector.url}{path}", content=body, headers=headers, timeout=30)
    # Protobuf is permissive (unknown fields are legal), so some random bytes are a valid request.
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        _answer_is_clear_4xx(response)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
))
def test_arbitrary_json_values_get_200_or_400(module_collector, value) -> None:
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": value}]}]}]}).encode()
    response = httpx.post(f"{module_collector.url}/v1/traces", content=body, headers={"Content-Type": JS})
    assert response.status_code in (200, 400)


def test_good_data_sent_among_bad_lands(collector) -> None:
    good_ids = []
    for i, (content_type, encoding, body) in enumerate(CORPUS):
        headers = {"Content-Type": content_type, **({"Content-Encoding": encoding} if encoding else {})}
        path = "/v1/logs" if b"resourceLogs" in body else "/v1/traces"
        assert httpx.post(f"{collector.url}{path}", content=body, headers=headers).status_code >= 400
        request = sample_spans_request(10, service=f"svc-{i}")
        good_ids += [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]
        response = httpx.post(f"{collector.url}/v1/traces", content=request.SerializeToString(),
                              headers={"Content-Type": PB})
        assert response.status_code == 200
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    stored = sorted(r[0] for r in con.execute("SELECT SpanId FROM otel_traces").fetchall())
    assert stored == sorted(good_ids)


def test_a_bad_span_in_a_json_request_is_rejected_alone(module_collector) -> None:
    good = [("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"), ("1af7651916cd43dd8448eb211c80319c", "c7ad6b7169203331")]
    spans = [{"traceId": t, "spanId": s, "name": "live.event ok", "startTimeUnixNano": "1767225600000000000",
              "endTimeUnixNano": "1767225600000500000"} for t, s in good]
    spans.insert(1, {"traceId": "not hex at all", "spanId": "b7ad6b7169203332", "name": "bad"})
    body = json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-svc"}}]}, "scopeSpans": [{"spans": spans}]}]})
    response = httpx.post(f"{module_collector.url}/v1/traces", content=body, headers={"Content-Type": JS})
    assert response.status_code == 200
    answer = response.json()
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "could not be read" in answer["partialSuccess"]["errorMessage"]
    assert response.headers["x-liveobs-rows"] == "2"
    for trace_id, span_id in good:
        stored = httpx.post(f"{module_collector.url}/api/v1/read/trace", json={"trace_id": trace_id})
        assert stored.status_code == 200
        assert span_id in stored.text
