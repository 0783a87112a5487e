"""liveobs.js in headless Chromium against the instrumented board app on 127.0.0.1.

The envelope on the wire, the server's span for each click, and every failure
kind arriving as a ``browser.error`` log record with the ids, rate limits included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import browser_helpers as helpers
import pytest

from liveobs.conventions import keys

pytestmark = pytest.mark.browser
UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def board(configured: Any, serve: Callable[[Any], Any], browser: Any) -> Iterator[Callable[..., Any]]:
    """``board(**app_options)`` -> (page, server); every context is closed afterwards."""
    contexts: list[Any] = []

    def open_(before: Callable[[Any], None] | None = None, session_key: str | None = None,
              **options: Any) -> tuple[Any, Any]:
        server = serve(helpers.board_app(**options))
        context, page = helpers.open_board(browser, server.http, session_key, before=before)
        contexts.append(context)
        return page, server

    yield open_
    for context in contexts:
        context.close()


def _meta(page: Any, name: str) -> str:
    return str(page.get_attribute(f'meta[name="{name}"]', "content"))


def _browser_logs(configured: Any, event_name: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        configured.flush()
        with configured.receiver.lock:
            found = [r for r in configured.receiver.logs if r["event_name"] == event_name]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_each_click_carries_a_fresh_event_id_that_the_server_span_and_the_action_report_share(
    configured: Any, board: Callable[..., Any]
) -> None:
    wire: list[dict[str, Any]] = []
    urls: list[str] = []

    def listen(page: Any) -> None:
        def opened(ws: Any) -> None:
            urls.append(ws.url)
            ws.on("framesent", lambda payload: wire.append(json.loads(payload)))

        page.on("websocket", opened)

    page, _ = board(before=listen)
    for _ in range(3):
        page.click("#add")
    page.wait_for_function("() => window.replies.length >= 3")
    envelopes = [m["lo"] for m in wire]

    event_ids = [lo["event_id"] for lo in envelopes]
    assert len(set(event_ids)) == 3
    assert all(UUID7.fullmatch(e) for e in event_ids)
    assert [lo["seq"] for lo in envelopes] == [1, 2, 3]
    assert {lo["session_id"] for lo in envelopes} == {_meta(page, keys.META_SESSION_ID)}
    assert {lo["route_id"] for lo in envelopes} == {"/board/{board_id}"}
    assert [sorted(m) for m in wire] == [["action", "event", "lo"]] * 3  # lo next to the payload

    spans = configured.receiver.spans_named("live.event add_card", count=3)
    by_event = {s["attributes"][keys.EVENT_ID]: s for s in spans}
    assert set(by_event) == set(event_ids)
    for span in by_event.values():
        assert span["attributes"][keys.SESSION_ID] == _meta(page, keys.META_SESSION_ID)

    page.evaluate("liveobs.flush()")
    actions = _browser_logs(configured, keys.BROWSER_ACTION_EVENT, 3)
    assert {r["attributes"][keys.EVENT_ID] for r in actions} == set(event_ids)
    for record in actions:
        attributes = record["attributes"]
        span = by_event[attributes[keys.EVENT_ID]]
        assert record["trace_id"] == span["trace_id"]
        assert attributes[keys.SESSION_ID] == _meta(page, keys.META_SESSION_ID)
        assert attributes[keys.REQUEST_ID] == _meta(page, keys.META_REQUEST_ID)
        assert 0 <= attributes[keys.BROWSER_LATENCY_MS] < 5000
        assert attributes[keys.PATCH_BYTES] > 0
        assert attributes[keys.CONNECTION_ID] == span["attributes"][keys.CONNECTION_ID]

    # The socket's URL carries the client's connection id; the server's connection span has it from the start.
    (url,) = urls
    client_connection = re.search(r"[?&]lo_cid=([0-9a-f]{32})$", url)
    assert client_connection is not None, url
    assert {lo["connection_id"] for lo in envelopes} == {client_connection.group(1)}
    page.evaluate("window.conn.close()")
    (connection,) = configured.receiver.spans_named("live.connection", count=1)
    assert connection["attributes"][keys.CONNECTION_ID] == client_connection.group(1)


def test_thrown_error_rejected_promise_and_failed_reply_each_arrive_as_browser_errors_with_the_ids(
    configured: Any, board: Callable[..., Any]
) -> None:
    page, _ = board()
    page.click("#fail")
    page.wait_for_function("() => document.getElementById('ref').textContent.includes('reference')")
    reference = page.evaluate("liveobs.lastErrorReference()")
    assert reference in page.inner_text("#ref")
    page.evaluate("setTimeout(() => { throw new TypeError('cannot read card of undefined'); }, 0)")
    page.evaluate("() => { Promise.reject(new RangeError('page 9 out of range')); }")
    page.evaluate("setTimeout(() => { throw new Error('Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl'); }, 0)")

    errors = _browser_logs(configured, keys.BROWSER_ERROR_EVENT, 4)
    kinds = {r["attributes"][keys.BROWSER_ERROR_KIND]: r for r in errors}
    assert set(kinds) == {"reply_error", "error", "unhandledrejection"}
    reply = kinds["reply_error"]
    assert reply["attributes"][keys.ERROR_TYPE] == "LookupError"
    assert reply["attributes"][keys.EVENT_ID] == reference
    span = configured.receiver.spans_named("live.event fail")[0]
    assert span["attributes"][keys.EVENT_ID] == reference
    assert reply["trace_id"] == span["trace_id"]
    assert kinds["unhandledrejection"]["attributes"][keys.ERROR_TYPE] == "RangeError"
    thrown = [r for r in errors if r["attributes"][keys.BROWSER_ERROR_KIND] == "error"]
    assert {r["attributes"][keys.ERROR_TYPE] for r in thrown} == {"TypeError", "Error"}
    for record in errors:
        attributes = record["attributes"]
        assert record["severity_text"] == "ERROR"
        assert attributes[keys.SESSION_ID] == _meta(page, keys.META_SESSION_ID)
        assert attributes[keys.ROUTE_ID] == "/board/{board_id}"
        assert attributes[keys.REQUEST_ID] == _meta(page, keys.META_REQUEST_ID)
        assert UUID7.fullmatch(attributes[keys.EVENT_ID])
        assert len(attributes[keys.ERROR_FINGERPRINT]) == 16
    assert "cannot read card of undefined" in str([r["body"] for r in errors])
    cookie = page.context.cookies()[0]["value"]
    assert b"eyJhbGciOiJIUzI1NiJ9" not in configured.receiver.all_bytes()
    assert cookie.encode() not in configured.receiver.all_bytes()


def test_an_unanswered_event_times_out_and_a_socket_that_never_opens_gives_up(
    configured: Any, board: Callable[..., Any]
) -> None:
    page, _ = board(timeout_ms=300)
    page.click("#slow")
    page.evaluate("liveobs.connect('ws://' + location.host + '/no-such-socket', {maxAttempts: 2, baseDelayMs: 10})")
    errors = _browser_logs(configured, keys.BROWSER_ERROR_EVENT, 2)
    kinds = {r["attributes"][keys.BROWSER_ERROR_KIND]: r["attributes"] for r in errors}
    assert set(kinds) == {"timeout", "reconnect_give_up"}
    assert kinds["timeout"][keys.EVENT_NAME] == "slow"
    assert kinds["timeout"][keys.BROWSER_LATENCY_MS] >= 300
    assert kinds["reconnect_give_up"]["liveobs.browser.attempts"] == 2


def test_a_flood_of_reports_is_rate_limited_in_the_page_and_at_the_endpoint(
    configured: Any, board: Callable[..., Any]
) -> None:
    page, _ = board()
    # The page's own limiter: 30 reports a minute by default; the rest are counted, not sent.
    page.evaluate("for (let i = 0; i < 100; i++) liveobs.report('browser.action', {event_name: 'flood', seq: i})")
    page.evaluate("liveobs.flush()")
    flooded = _browser_logs(configured, keys.BROWSER_ACTION_EVENT, 30)
    assert len([r for r in flooded if r["attributes"].get(keys.EVENT_NAME) == "flood"]) == 30
    # The endpoint's limiter: the session's bucket is empty now, so a hand-made flood gets 429.
    statuses = page.evaluate("""async () => {
        const body = JSON.stringify({session_id: liveobs.ids.session_id, reports: [{type: 'browser.action'}]});
        const out = [];
        for (let i = 0; i < 20; i++) {
            const r = await fetch('/_liveobs/report', {method: 'POST', body, headers: {'Content-Type': 'application/json'}});
            out.push(r.status);
        }
        return out;
    }""")
    assert 429 in statuses
    assert statuses.count(202) <= 2  # at most what refilled during the loop
    configured.flush()
    denied = [e for s in configured.receiver.spans for e in s["events"]
              if e["attributes"].get("liveobs.security.check") == "rate_limit"
              and e["attributes"].get("liveobs.security.outcome") == "denied"]
    assert denied


def test_actions_after_a_reconnect_report_the_connect_time_the_reconnect_and_the_new_connection(
    configured: Any, board: Callable[..., Any]
) -> None:
    page, _ = board()
    page.click("#add")
    page.wait_for_function("() => window.replies.length >= 1")
    page.click("#drop")
    page.wait_for_function("() => window.opens === 2")
    page.click("#add")
    page.wait_for_function("() => window.replies.length >= 3")
    page.evaluate("liveobs.flush()")
    actions = _browser_logs(configured, keys.BROWSER_ACTION_EVENT, 3)
    by_seq = sorted((r["attributes"][keys.BROWSER_RECONNECTS], r["attributes"][keys.EVENT_NAME],
                     r["attributes"][keys.CONNECTION_ID]) for r in actions)
    (first, _, first_cid), (_, _, drop_cid), (after, name, second_cid) = by_seq
    assert (first, after, name) == (0, 1, "add_card")
    assert first_cid == drop_cid != second_cid
    assert all(0 <= r["attributes"][keys.BROWSER_CONNECT_MS] < 5000 for r in actions)
    page.close()  # the second connection's span ends with its socket
    connections = configured.receiver.spans_named("live.connection", 2)
    second = next(s for s in connections if s["attributes"][keys.CONNECTION_ID] == second_cid)
    assert second["attributes"][keys.RECONNECT] is True
    assert second["attributes"][keys.CONNECTION_PREVIOUS_ID] == first_cid  # the id the browser's reports carried
    first_span = next(s for s in connections if s is not second)
    assert first_span["attributes"][keys.CONNECTION_ID] == first_cid


def test_a_page_without_a_session_sends_no_reports_but_still_shows_a_reference(
    configured: Any, board: Callable[..., Any]
) -> None:
    requests: list[str] = []
    page, _ = board(before=lambda p: p.on("request", lambda r: requests.append(r.url)), session_key="")
    assert page.locator(f'meta[name="{keys.META_SESSION_ID}"]').count() == 0
    page.evaluate("setTimeout(() => { throw new TypeError('no session here'); }, 0)")
    page.wait_for_function("() => document.getElementById('ref').textContent.includes('reference')")
    page.click("#add")
    page.wait_for_function("() => window.replies.length >= 1")
    page.evaluate("liveobs.flush()")
    assert UUID7.fullmatch(page.evaluate("liveobs.lastErrorReference()"))
    assert not [url for url in requests if "/_liveobs/report" in url]
    assert _browser_logs(configured, keys.BROWSER_ERROR_EVENT, 1, timeout=0.5) == []


def test_a_page_without_a_session_warns_once_in_the_console_and_a_page_with_one_does_not(
    board: Callable[..., Any]
) -> None:
    warnings: list[str] = []

    def listen(page: Any) -> None:
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)

    page, _ = board(before=listen, session_key="")
    page.evaluate("setTimeout(() => { throw new TypeError('first'); }, 0)")
    page.wait_for_function("() => document.getElementById('ref').textContent.includes('reference')")
    page.evaluate("liveobs.flush()")
    page.evaluate("setTimeout(() => { throw new TypeError('second'); }, 0)")
    page.wait_for_timeout(100)
    page.evaluate("liveobs.flush()")
    assert [w for w in warnings if "liveobs" in w] == [
        "liveobs: this page has no session id (meta liveobs-session-id), so no browser report will be sent; "
        "give LiveObsMiddleware a session= and put head_tags() in <head>"
    ]

    warnings.clear()
    page, _ = board(before=listen)
    page.evaluate("setTimeout(() => { throw new TypeError('with a session'); }, 0)")
    page.wait_for_function("() => document.getElementById('ref').textContent.includes('reference')")
    page.evaluate("liveobs.flush()")
    assert [w for w in warnings if "liveobs" in w] == []
