"""The Django Channels adapter end to end: JsonWebsocketConsumer (uvicorn, daphne) and its async twin, in Chromium.

The board (``channels_board.py``) adds cards and fails on "Sort by due" with a
real ``TypeError`` inside the consumer's thread; the page shows the failing
click's reference, and ``liveobs trace --event-id`` against a real ``liveobs
collect`` answers it, with the handler's log lines inside the event's trace.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from adapter_helpers import UUID7, Processes, start_app, start_collector, trace_and_incidents

from liveobs.conventions import keys

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("server", "consumer"), [("uvicorn", "sync"), ("daphne", "sync"), ("uvicorn", "async")])
def test_channels_events_are_traced_in_the_consumer_and_the_failure_is_found_by_its_reference(
    browser: Any, tmp_path: Path, server: str, consumer: str,
) -> None:
    db = tmp_path / "liveobs.duckdb"
    procs = Processes()
    try:
        _collector, collector_url = start_collector(procs, db, tmp_path)
        app, base_url = start_app(procs, "channels_board:application", collector_url, tmp_path, "/healthz/", server)
        context = browser.new_context(base_url=base_url)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        closes: list[Any] = []
        page.on("websocket", lambda ws: ws.on("close", lambda _ws: closes.append(ws.url)))
        reports: list[dict[str, Any]] = []
        page.on("request", lambda r: reports.extend(json.loads(r.post_data or "{}").get("reports", []))
                if r.url.endswith("/_liveobs/report") else None)
        page.goto("/board/" + ("?consumer=async" if consumer == "async" else ""))
        session_id = page.get_attribute('meta[name="liveobs-session-id"]', "content")
        assert session_id, "the page has no session"
        assert page.get_attribute('meta[name="liveobs-route-id"]', "content") == "/board/"
        for title in ("Write docs", "Ship it"):
            page.fill("#title", title)
            page.click("#add")
            page.wait_for_selector(f"#cards li:has-text('{title}')", timeout=10_000)
        page.click("#sort")
        page.wait_for_function("() => document.getElementById('ref').textContent.length > 0", timeout=10_000)
        reference = page.inner_text("#ref")
        assert re.fullmatch(UUID7, reference), reference
        page.wait_for_timeout(500)
        page.evaluate("liveobs.flush()")
        page.wait_for_timeout(300)
        context.close()
        procs.stop(app)  # flushes the app's spans and logs
        trace, incidents = trace_and_incidents(db, tmp_path, reference)
    finally:
        procs.stop_all()

    assert trace["event_id"] == reference
    assert trace["error_class"] == "TypeError"
    assert trace["route_id"] == "/board/"
    assert trace["session_id"] == session_id
    assert trace["connection_id"]
    assert trace["request_id"]
    server = [s for s in trace["spans"] if s["name"].startswith("live.event")]
    assert len(server) == 1, trace["spans"]
    assert server[0]["attributes"][keys.EVENT_ID] == reference
    assert server[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    # The handler ran in the consumer's thread, yet its log line is in the event's trace with the event's ids.
    logs = [entry for entry in trace["logs"] if "sorting cards" in str(entry)]
    assert len(logs) == 1, trace["logs"]
    failed = [entry for entry in trace["logs"] if "live event failed" in str(entry)]
    assert len(failed) == 1, trace["logs"]
    errors = trace["browser"]["errors"]
    reported = [e for e in errors if e["attributes"].get(keys.EVENT_ID) == reference]
    assert len(reported) == 1, errors
    assert reported[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    kinds = sorted((r["type"], r.get("error_kind") or r.get("event_name")) for r in reports)
    assert kinds[:3] == [("browser.action", "add_card"), ("browser.action", "add_card"),
                         ("browser.error", "reply_error")], reports
    # One trace per event.
    events = [e for e in trace["context"]["events"] if e["kind"] == "event"]
    assert [e["event_name"] for e in events] == ["add_card", "add_card", "sort_by_due"]
    assert len({e["event_id"] for e in events}) == 3
    assert [e["error_class"] for e in events] == [None, None, "TypeError"]
    # One incident for the one failing click, with the exception's own message.
    clicked = [i for i in incidents if i["error_class"] == "TypeError" or reference in i["sample_event_ids"]]
    assert [(i["error_class"], i["count"], i["routes"]) for i in clicked] == [("TypeError", 1, ["/board/"])], incidents
    assert clicked[0]["message"] == "'<' not supported between instances of 'NoneType' and 'NoneType'"
    assert {"span", "log", "browser"} <= set(clicked[0]["sources"])
    assert reference in clicked[0]["sample_event_ids"]
    # The connection span is named by the URLRouter pattern, the page's request by the Django URL pattern.
    con = duckdb.connect(str(db), read_only=True)
    try:
        routes = dict(con.execute(
            "SELECT SpanName, list(DISTINCT SpanAttributes[?]) FROM otel_traces"
            " WHERE SpanName IN ('live.connection', 'GET') AND SpanAttributes['url.path'] IS DISTINCT FROM '/healthz/'"
            " GROUP BY SpanName", [keys.ROUTE_ID]).fetchall())
    finally:
        con.close()
    socket = "/ws/async-board/" if consumer == "async" else "/ws/board/"
    assert routes == {"live.connection": [socket], "GET": ["/board/"]}, routes
    app_log = (tmp_path / "app.log").read_text()
    assert "Failed to detach context" not in app_log
    assert "invalid close code" not in app_log
    assert "Exception inside application" not in app_log
