"""The Phoenix LiveView adapter end to end: pyview under uvicorn, its bundled Phoenix LiveView client in Chromium.

The board (``pyview_board.py``) adds cards and fails on "Sort by due" with a
real ``TypeError`` inside the LiveView's ``handle_event``; the page shows the
failing click's reference, and ``liveobs trace --event-id`` against a real
``liveobs collect`` answers it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from adapter_helpers import UUID7, Processes, liveobs_json, start_app, start_collector, trace_and_incidents

from liveobs.conventions import keys

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.timeout(120)
def test_liveview_events_are_live_events_and_the_crash_is_found_by_its_reference(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "liveobs.duckdb"
    procs = Processes()
    try:
        _collector, collector_url = start_collector(procs, db, tmp_path)
        app, base_url = start_app(procs, "pyview_board:app", collector_url, tmp_path, "/board")
        context = browser.new_context(base_url=base_url)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        sent: list[str] = []
        received: list[str] = []

        def watch(ws: Any) -> None:
            ws.on("framesent", lambda payload: sent.append(str(payload)))
            ws.on("framereceived", lambda payload: received.append(str(payload)))

        page.on("websocket", watch)
        reports: list[dict[str, Any]] = []
        page.on("request", lambda r: reports.extend(json.loads(r.post_data or "{}").get("reports", []))
                if r.url.endswith("/_liveobs/report") else None)
        page.goto("/board")
        session_id = page.get_attribute('meta[name="liveobs-session-id"]', "content")
        assert session_id, "the session cookie layer gave the page no session"
        page.wait_for_selector(".phx-connected", timeout=10_000)
        for count in (1, 2):
            page.click("#add")
            page.wait_for_function(f"() => document.querySelectorAll('#cards li').length === {count}", timeout=10_000)
        page.click("#sort")
        page.wait_for_selector("#ref", timeout=10_000)
        reference = page.inner_text("#ref")
        assert re.fullmatch(UUID7, reference), reference
        assert page.evaluate("liveobs.lastErrorReference()") == reference
        page.wait_for_timeout(2500)  # past the page's 2 s reply timeout: an unanswered click would be reported
        page.evaluate("liveobs.flush()")
        page.wait_for_timeout(300)
        context.close()
        procs.stop(app)  # flushes the app's spans and logs
        trace, incidents = trace_and_incidents(db, tmp_path, reference)
        first_add = next(e["event_id"] for e in trace["context"]["events"] if e["event_name"] == "add_card")
        added = liveobs_json(db, "trace", "--event-id", first_add)
    finally:
        procs.stop_all()

    # Every event push carried the envelope; the failing one was answered by an error phx_reply.
    events_sent = [json.loads(f) for f in sent if f.startswith("[") and '"event"' in f]
    pushed = [f[4] for f in events_sent if f[3] == "event"]
    assert [p["event"] for p in pushed] == ["add_card", "add_card", "sort_by_due"], sent
    assert pushed[2]["lo"]["event_id"] == reference
    error_replies = [json.loads(f) for f in received if '"status":"error"' in f.replace(" ", "")]
    assert len(error_replies) == 1, received
    assert error_replies[0][4]["response"]["lo"]["error_class"] == "TypeError"

    assert trace["event_id"] == reference
    assert trace["error_class"] == "TypeError"
    assert trace["route_id"] == "/board"
    assert trace["session_id"] == session_id
    assert trace["connection_id"]
    assert trace["request_id"]
    server = [s for s in trace["spans"] if s["name"].startswith("live.event")]
    assert len(server) == 1, trace["spans"]
    # pyview's own timings, through its instrumentation interface, are on the event's span.
    assert float(server[0]["attributes"]["pyview.handle_event.duration_ms"]) > 0, server[0]["attributes"]
    assert [s["name"] for s in added["spans"]] == ["live.event add_card"], added["spans"]
    timed = added["spans"][0]["attributes"]
    assert float(timed["pyview.handle_event.duration_ms"]) > 0, timed  # attributes come back as text
    assert float(timed["pyview.render.duration_ms"]) > 0, timed
    assert added["error_class"] is None
    assert server[0]["name"] == "live.event sort_by_due"
    assert server[0]["attributes"][keys.EVENT_ID] == reference
    assert server[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    assert server[0]["attributes"][keys.CONNECTION_ID] == trace["connection_id"]
    assert [line for line in trace["logs"] if "sorting cards" in line["body"]], trace["logs"]
    reported = [e for e in trace["browser"]["errors"] if e["attributes"].get(keys.EVENT_ID) == reference]
    assert len(reported) == 1, trace["browser"]
    assert reported[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    # The two adds were answered (browser.action with the server's trace), the sort failed: no timeouts.
    kinds = sorted((r["type"], r.get("error_kind") or r.get("event_name")) for r in reports)
    assert kinds == [("browser.action", "add_card"), ("browser.action", "add_card"),
                     ("browser.error", "reply_error")], reports
    assert all(r["trace_id"] for r in reports)
    # One trace per event: the session's three events, each with its own id, only the sort failed.
    events = [e for e in trace["context"]["events"] if e["kind"] == "event"]
    assert [e["event_name"] for e in events] == ["add_card", "add_card", "sort_by_due"], trace["context"]
    assert len({e["event_id"] for e in events}) == 3
    assert [e["error_class"] for e in events] == [None, None, "TypeError"]
    # Everything that saw the crash saw it on the event's span: the server span, its log line, the browser.
    assert {e["error_class"] for e in trace["errors"]} == {"TypeError"}
    assert {e["span_id"] for e in trace["errors"]} == {server[0]["span_id"]}
    # One incident for the one failing click, whichever of span, log line and browser report saw it.
    assert [(i["error_class"], i["count"], i["routes"]) for i in incidents] == [("TypeError", 1, ["/board"])], incidents
    assert {"span", "browser"} <= set(incidents[0]["sources"])
    assert reference in incidents[0]["sample_event_ids"]
    assert incidents[0]["message"] == "'<' not supported between instances of 'NoneType' and 'NoneType'"
    assert "Failed to detach context" not in (tmp_path / "app.log").read_text()
    # The crash was answered and the socket closed by the adapter: uvicorn saw no exception escape the app.
    assert "Exception in ASGI application" not in (tmp_path / "app.log").read_text()
