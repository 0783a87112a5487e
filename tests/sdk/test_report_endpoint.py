"""The report endpoint under uvicorn: same origin, known session, limits, validation, redaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import liveobs.sdk
from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.sdk._evidence_asgi import observe_live_app
from liveobs.sdk._report import TokenBuckets

COOKIE = "raw-session-cookie-7d2f"
RING = liveobs.sdk.SessionKeyRing({"k1": "report-test-session-key-0123456789"})
SESSION_ID = RING.pseudonymise(COOKIE)
EVENT_ID = "0190f5c2-7a1b-7c3d-8e4f-a1b2c3d4e5f6"
Post = Callable[..., httpx.Response]


@pytest.fixture
def post(configured: Any, serve: Any) -> Post:
    """``post(body, **headers)`` to the report endpoint as a same-origin page of the session would."""
    server = serve(observe_live_app(Starlette(), session=liveobs.sdk.cookie_session("sid"), session_keys=RING,
                                    report_burst=5, report_per_minute=1))

    def send(body: Any, *, raw: bytes | None = None, **headers: str) -> httpx.Response:
        headers = {k: v.replace("{origin}", server.http) for k, v in headers.items()}
        sent = {"Origin": server.http, "Cookie": f"sid={COOKIE}", "Content-Type": "application/json", **headers}
        sent = {k: v for k, v in sent.items() if v}
        content = raw if raw is not None else json.dumps(body).encode()
        return httpx.post(f"{server.http}/_liveobs/report", content=content, headers=sent)

    return send


def _report(**fields: Any) -> dict[str, Any]:
    item = {"type": "browser.error", "event_id": EVENT_ID, "event_name": "add_card", "error_kind": "reply_error",
            "error_class": "LookupError", "error_code": "internal", "latency_ms": 31.5, "seq": 4,
            "connection_id": "c0ffee", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}
    item.update(fields)
    return {"session_id": SESSION_ID, "route_id": "/board/{board_id}", "request_id": "req-1", "release": "1.4.2",
            "dropped": 0, "reports": [item]}


def _logs(configured: Any, count: int = 1) -> list[dict[str, Any]]:
    configured.flush()
    with configured.receiver.lock:
        return [r for r in configured.receiver.logs if r["event_name"].startswith("browser.")]


def test_a_valid_error_report_becomes_a_browser_error_record_with_ids_timings_and_class(
    configured: Any, post: Post
) -> None:
    response = post(_report())
    assert (response.status_code, response.json()) == (202, {"accepted": 1, "dropped": 0})
    (record,) = _logs(configured)
    assert record["event_name"] == keys.BROWSER_ERROR_EVENT
    assert record["severity_text"] == "ERROR"
    assert (record["trace_id"], record["span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    attributes = record["attributes"]
    assert {k: attributes[k] for k in (keys.SESSION_ID, keys.EVENT_ID, keys.ROUTE_ID, keys.REQUEST_ID,
                                       keys.CONNECTION_ID, keys.EVENT_NAME, keys.ERROR_TYPE)} == {
        keys.SESSION_ID: SESSION_ID, keys.EVENT_ID: EVENT_ID, keys.ROUTE_ID: "/board/{board_id}",
        keys.REQUEST_ID: "req-1", keys.CONNECTION_ID: "c0ffee", keys.EVENT_NAME: "add_card",
        keys.ERROR_TYPE: "LookupError"}
    assert attributes[keys.BROWSER_LATENCY_MS] == 31.5
    assert attributes[keys.EVENT_SEQ] == 4
    assert attributes[keys.BROWSER_ERROR_KIND] == "reply_error"
    assert attributes[ev.BROWSER_ERROR_CODE] == "internal"
    assert attributes[keys.RELEASE_ID] == "1.4.2"
    assert len(attributes[keys.ERROR_FINGERPRINT]) == 16
    assert record["resource"][keys.SERVICE_NAME] == "board-app"


@pytest.mark.parametrize(("headers", "why"), [
    ({"Origin": "https://evil.example"}, "foreign Origin"),
    ({"Origin": "null"}, "opaque Origin"),
    ({"Origin": "", "Sec-Fetch-Site": "cross-site"}, "cross-site fetch"),
    ({"Origin": "", "Referer": "https://evil.example/page"}, "foreign Referer"),
    ({"Origin": ""}, "no origin information at all"),
])
def test_cross_origin_reports_are_refused(configured: Any, post: Post, headers: dict[str, str], why: str) -> None:
    assert post(_report(), **headers).status_code == 403, why
    assert _logs(configured) == []


def test_a_same_origin_referer_without_origin_is_heard(configured: Any, post: Post) -> None:
    assert post(_report(), Origin="", Referer="{origin}/board/7").status_code == 202
    assert post(_report(), Origin="", **{"Sec-Fetch-Site": "same-origin"}).status_code == 202
    assert len(_logs(configured)) == 2


def test_reports_for_another_session_or_without_a_session_are_refused(configured: Any, post: Post) -> None:
    other = RING.pseudonymise("somebody-else")
    assert post({**_report(), "session_id": other}).status_code == 403
    assert post(_report(), Cookie="").status_code == 403
    assert post({**_report(), "session_id": "not a valid id!"}).status_code == 403
    assert _logs(configured) == []


def test_bodies_over_the_limit_are_refused_and_recorded(configured: Any, post: Post) -> None:
    big = _report(message="x" * 40_000)
    assert post(big).status_code == 413
    configured.flush()
    events = [e["attributes"] for s in configured.receiver.spans_named("POST") for e in s["events"]]
    assert [(e[ev.SECURITY_CHECK], e[ev.SECURITY_OUTCOME]) for e in events] == [("body_limit", "refused")]
    assert events[0][ev.LIMIT_BYTES] == 32 * 1024


def test_malformed_reports_get_4xx_never_a_record(configured: Any, post: Post) -> None:
    assert post(None, raw=b"{not json").status_code == 400
    assert post(None, raw=b"[1, 2]").status_code == 400
    assert post({"session_id": SESSION_ID, "reports": "nope"}).status_code == 400
    assert post(_report(), **{"Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
    assert _logs(configured) == []


def test_each_field_is_validated_and_every_text_scrubbed(configured: Any, post: Post) -> None:
    secret = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    body = _report(event_id="<script>", event_name="x" * 99, error_class="not a class!", error_code="BAD CODE",
                   latency_ms=-5, seq="3", trace_id="0" * 32, error_kind="invented",
                   message=f"token {secret} leaked " + "y" * 2000)
    body["reports"].append({"type": "browser.nonsense"})
    body["reports"].append("not an object")
    response = post(body)
    assert response.json() == {"accepted": 1, "dropped": 2}
    (record,) = _logs(configured)
    attributes = record["attributes"]
    for dropped in (keys.EVENT_ID, keys.EVENT_NAME, ev.BROWSER_ERROR_CODE, keys.BROWSER_LATENCY_MS, keys.EVENT_SEQ):
        assert dropped not in attributes
    assert attributes[keys.BROWSER_ERROR_KIND] == "other"
    assert attributes[keys.ERROR_TYPE] == "other"
    assert record["trace_id"] == ""
    assert secret not in record["body"]
    assert len(record["body"]) <= 500
    assert secret.encode() not in configured.receiver.all_bytes()
    assert COOKIE.encode() not in configured.receiver.all_bytes()


def test_a_session_over_its_rate_gets_429_and_the_decision_is_recorded(configured: Any, post: Post) -> None:
    many = _report()
    many["reports"] = many["reports"] * 8
    first = post(many)
    assert (first.status_code, first.json()) == (202, {"accepted": 5, "dropped": 3})
    refused = post(_report())
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == 60
    configured.flush()
    events = [e["attributes"] for s in configured.receiver.spans_named("POST", 2) for e in s["events"]]
    decisions = [e[ev.SECURITY_OUTCOME] for e in events if e[ev.SECURITY_CHECK] == "rate_limit"]
    assert decisions == ["denied", "denied"]
    assert {e[ev.RATE_LIMIT_POLICY] for e in events} == {"browser_reports"}
    assert len(_logs(configured)) == 5


def test_token_buckets_refill_at_their_rate_and_forget_old_keys() -> None:
    buckets = TokenBuckets(per_minute=60, burst=3, max_keys=2)
    assert buckets.take("a", 5, now=0.0) == 3
    assert buckets.take("a", 1, now=0.5) == 0
    assert buckets.take("a", 5, now=2.0) == 2
    assert buckets.take("b", 1, now=2.0) == 1
    assert buckets.take("c", 1, now=2.0) == 1  # "a" is forgotten: it starts full again
    assert buckets.take("a", 5, now=2.0) == 3


def test_get_is_not_allowed(configured: Any, serve: Any) -> None:
    server = serve(observe_live_app(Starlette(), session=liveobs.sdk.cookie_session("sid")))
    response = httpx.get(f"{server.http}/_liveobs/report")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")


def test_a_page_rendered_before_a_key_rotation_still_reports_and_other_keys_do_not(
    configured: Any, serve: Any
) -> None:
    rotated = RING.rotated("k2", "report-test-session-key-rotated-0001")
    server = serve(observe_live_app(Starlette(), session=liveobs.sdk.cookie_session("sid"), session_keys=rotated))

    def post(session_id: str, cookie: str = COOKIE) -> int:
        body = {**_report(), "session_id": session_id}
        return httpx.post(f"{server.http}/_liveobs/report", content=json.dumps(body).encode(), headers={
            "Origin": server.http, "Cookie": f"sid={cookie}", "Content-Type": "application/json"}).status_code

    assert rotated.current == "k2"
    assert SESSION_ID.startswith("k1.")
    assert post(SESSION_ID) == 202  # the page's pseudonym under the earlier key
    assert post(rotated.pseudonymise(COOKIE)) == 202  # a page rendered after the rotation
    assert post(SESSION_ID, cookie="someone-else") == 403  # the earlier key, another session
    gone = liveobs.sdk.SessionKeyRing({"k0": "report-test-session-key-retired-01"}).pseudonymise(COOKIE)
    assert post(gone) == 403  # a key no longer in the ring
    (record, _) = _logs(configured)[:2]
    assert record["attributes"][keys.SESSION_ID] == SESSION_ID
