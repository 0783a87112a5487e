"""HTTP through the real middleware under uvicorn, exported with the real OTLP/HTTP exporter."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from liveobs.conventions import keys

VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_page_request_carries_every_id_on_span_log_header_and_meta(configured: Any, serve: Any, build_app: Any) -> None:
    server = serve(build_app())
    response = httpx.get(
        f"{server.http}/board/7", headers={"X-Request-ID": "req-123", "Cookie": "sid=raw-cookie-value"}
    )
    configured.flush()
    assert response.status_code == 200
    assert response.headers[keys.HEADER_REQUEST_ID] == "req-123"
    (span,) = configured.receiver.spans_named("GET ")
    assert span["name"] == "GET /board/{board_id}"
    attrs = span["attributes"]
    assert attrs[keys.REQUEST_ID] == "req-123"
    assert attrs[keys.HTTP_ROUTE] == "/board/{board_id}"
    assert attrs[keys.ROUTE_ID] == "/board/{board_id}"
    assert attrs[keys.HTTP_RESPONSE_STATUS_CODE] == 200
    session_id = attrs[keys.SESSION_ID]
    assert re.fullmatch(r"eph\.[0-9a-f]{32}", session_id)
    assert span["resource"][keys.SERVICE_VERSION] == "1.4.2"
    assert span["resource"][keys.DEPLOYMENT_ENVIRONMENT] == "test"
    # the page head: traceparent of this span and the ids the client needs
    html = response.text
    assert re.search(f'<meta name="traceparent" content="00-{span["trace_id"]}-{span["span_id"]}-0[13]">', html)
    assert f'<meta name="liveobs-session-id" content="{session_id}">' in html
    assert '<meta name="liveobs-request-id" content="req-123">' in html
    assert '<meta name="liveobs-route-id" content="/board/{board_id}">' in html
    assert '<meta name="liveobs-release" content="1.4.2">' in html
    assert f'traceparent;desc="00-{span["trace_id"]}-{span["span_id"]}-0' in response.headers["Server-Timing"]
    # the log line, over OTLP and as a JSON line, carries the same ids
    (record,) = configured.receiver.logs_with("page rendered")
    assert record["trace_id"] == span["trace_id"]
    assert record["span_id"] == span["span_id"]
    assert record["attributes"][keys.REQUEST_ID] == "req-123"
    assert record["attributes"][keys.SESSION_ID] == session_id
    assert record["attributes"][keys.ROUTE_ID] == "/board/{board_id}"
    line = next(json.loads(ln) for ln in configured.log_lines.getvalue().splitlines() if "page rendered" in ln)
    assert line[keys.LOG_TRACE_ID] == span["trace_id"]
    assert line[keys.LOG_SPAN_ID] == span["span_id"]
    assert line[keys.LOG_TRACE_FLAGS] in ("01", "03")  # sampled, and random ids (W3C level 2)
    assert line[keys.SESSION_ID] == session_id
    assert "raw-cookie-value" not in configured.receiver.all_bytes().decode("latin-1")


def test_an_invalid_request_id_is_replaced_not_echoed(configured: Any, serve: Any, build_app: Any) -> None:
    server = serve(build_app())
    response = httpx.get(f"{server.http}/board/1", headers={"X-Request-ID": "bad id;<script>"})
    assert response.headers[keys.HEADER_REQUEST_ID] != "bad id;<script>"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers[keys.HEADER_REQUEST_ID])


def test_a_failing_request_answers_500_with_request_id_and_error_type(configured: Any, serve: Any, build_app: Any) -> None:
    server = serve(build_app())
    response = httpx.get(f"{server.http}/boom", headers={"X-Request-ID": "req-boom"})
    configured.flush()
    assert response.status_code == 500
    assert response.headers[keys.HEADER_REQUEST_ID] == "req-boom"
    (span,) = configured.receiver.spans_named("GET /boom")
    assert span["attributes"][keys.ERROR_TYPE] == "RuntimeError"
    assert re.fullmatch(r"[0-9a-f]{16}", span["attributes"][keys.ERROR_FINGERPRINT])
    (event,) = [e for e in span["events"] if e["name"] == keys.EXCEPTION_EVENT]
    assert event["attributes"][keys.ERROR_TYPE] == "RuntimeError"
    assert "hunter2" not in event["attributes"][keys.EXCEPTION_MESSAGE]
    assert "hunter2" not in configured.receiver.all_bytes().decode("latin-1")


def test_an_app_that_never_answers_still_gets_a_500_with_request_id(configured: Any, serve: Any, build_app: Any) -> None:
    import liveobs.sdk

    async def silent(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        return None

    server = serve(liveobs.sdk.LiveObsMiddleware(silent))
    response = httpx.get(f"{server.http}/x", headers={"X-Request-ID": "req-silent"})
    assert response.status_code == 500
    assert response.headers[keys.HEADER_REQUEST_ID] == "req-silent"


def test_untrusted_traceparent_starts_a_new_trace_with_a_link(configured: Any, serve: Any, build_app: Any) -> None:
    server = serve(build_app())
    httpx.get(f"{server.http}/board/2", headers={"traceparent": VALID_TRACEPARENT})
    configured.flush()
    (span,) = configured.receiver.spans_named("GET ")
    assert span["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["parent_span_id"] == ""
    assert span["links"][0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["links"][0]["attributes"][keys.LINK_KIND] == "untrusted_parent"


def test_trusted_traceparent_makes_the_request_a_child(configured: Any, serve: Any, build_app: Any) -> None:
    server = serve(build_app(trust_traceparent=["127.0.0.0/8"]))
    httpx.get(f"{server.http}/board/2", headers={"traceparent": VALID_TRACEPARENT})
    configured.flush()
    (span,) = configured.receiver.spans_named("GET ")
    assert span["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["parent_span_id"] == "00f067aa0ba902b7"


def test_ids_survive_await_threadpool_task_and_executor(configured: Any, serve: Any, build_app: Any) -> None:
    server = serve(build_app())
    seen = httpx.get(f"{server.http}/boundaries", headers={"X-Request-ID": "req-bound"}).json()
    assert set(seen) == {"direct", "await", "threadpool", "task", "to_thread", "executor"}
    for where, ids in seen.items():
        assert ids["request_id"] == "req-bound", where
        assert ids["trace_id"] == seen["direct"]["trace_id"] != "0" * 32, where


def test_a_session_started_during_the_request_is_carried_from_then_on(
    configured: Any, serve: Any, build_app: Any
) -> None:
    server = serve(build_app())
    first = httpx.get(f"{server.http}/welcome")
    later = httpx.get(f"{server.http}/board/3", headers={"Cookie": "sid=fresh-session-key"})
    configured.flush()
    assert first.status_code == later.status_code == 200
    (welcome,) = configured.receiver.spans_named("GET /welcome")
    (board,) = configured.receiver.spans_named("GET /board/")
    started = welcome["attributes"][keys.SESSION_ID]
    # the pseudonym the next request, arriving with the cookie, is known by
    assert started == board["attributes"][keys.SESSION_ID]
    assert f'<meta name="liveobs-session-id" content="{started}">' in first.text
    (record,) = configured.receiver.logs_with("welcomed")
    assert record["attributes"][keys.SESSION_ID] == started
    assert "fresh-session-key" not in configured.receiver.all_bytes().decode("latin-1")


def test_start_session_outside_a_request_does_nothing() -> None:
    import liveobs.sdk

    assert liveobs.sdk.start_session("no-request-here") is None
