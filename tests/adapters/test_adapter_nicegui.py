"""The NiceGUI adapter end to end: NiceGUI's own server (``ui.run``) and its own client in headless Chromium.

The board (``nicegui_board.py``) adds cards with a plain handler and fails on
"Sort by due", an async handler NiceGUI runs as a background task, with a real
``TypeError``, and on "Archive first", a plain handler, with a ``KeyError``; the
page shows each failing click's reference, and ``liveobs trace --event-id``
against a real ``liveobs collect`` answers it.
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
def test_nicegui_clicks_are_live_events_and_the_failure_is_found_by_its_reference(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "liveobs.duckdb"
    procs = Processes()
    try:
        _collector, collector_url = start_collector(procs, db, tmp_path)
        app, base_url = start_app(procs, "nicegui_board", collector_url, tmp_path, "/readyz", server="python")
        context = browser.new_context(base_url=base_url)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        sockets: list[str] = []
        sent: list[str] = []

        def watch(ws: Any) -> None:
            sockets.append(ws.url)
            ws.on("framesent", lambda payload: sent.append(str(payload)))

        page.on("websocket", watch)
        reports: list[dict[str, Any]] = []
        page.on("request", lambda r: reports.extend(json.loads(r.post_data or "{}").get("reports", []))
                if r.url.endswith("/_liveobs/report") else None)
        page.goto("/board")
        session_id = page.get_attribute('meta[name="liveobs-session-id"]', "content")
        assert session_id, "the session cookie layer gave the page no session"
        for title in ("Write docs", "Ship it"):
            page.get_by_label("Title").fill(title)
            page.get_by_role("button", name="Add card").click()
            page.wait_for_selector(f".card:has-text('{title}')", timeout=10_000)
        page.get_by_role("button", name="Sort by due").click()
        page.wait_for_function("() => document.getElementById('ref').textContent.length > 0", timeout=10_000)
        reference = page.inner_text("#ref")
        assert re.fullmatch(UUID7, reference), reference
        page.get_by_role("button", name="Archive first").click()
        page.wait_for_function(f"() => !['', '{reference}'].includes(document.getElementById('ref').textContent)",
                               timeout=10_000)
        archived = page.inner_text("#ref")
        assert re.fullmatch(UUID7, archived), archived
        page.wait_for_timeout(500)
        page.evaluate("liveobs.flush()")
        page.wait_for_timeout(300)
        context.close()
        procs.stop(app)  # flushes the app's spans and logs
        trace, incidents = trace_and_incidents(db, tmp_path, reference)
        archive_trace = liveobs_json(db, "trace", "--event-id", archived)
    finally:
        procs.stop_all()

    assert len(sockets) == 1, sockets  # NiceGUI's one socket.io WebSocket, kept through the failure
    assert "/_nicegui_ws/socket.io/" in sockets[0]
    assert "lo_cid=" in sockets[0]
    events_sent = [s for s in sent if s.startswith("42") and '"event"' in s]
    assert len(events_sent) >= 6, sent  # 4 clicks, the typed titles
    assert all('"lo":' in s for s in events_sent), sent
    assert not [s for s in sent if '"handshake"' in s and '"lo":' in s], sent  # NiceGUI's own messages untouched
    assert trace["event_id"] == reference
    assert trace["error_class"] == "TypeError"
    assert trace["route_id"] == "/board"
    assert trace["session_id"] == session_id
    assert trace["connection_id"]
    assert trace["connection_id"] in sockets[0]
    assert trace["request_id"]
    server = [s for s in trace["spans"] if s["name"].startswith("live.event")]
    assert [s["name"] for s in server] == ["live.event sort_by_due"], trace["spans"]
    assert server[0]["attributes"][keys.EVENT_ID] == reference
    assert server[0]["attributes"][keys.EVENT_NAME] == "sort_by_due"
    assert server[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    # The async handler's log line, written in NiceGUI's background task, is inside the event's trace.
    logs = [entry for entry in trace["logs"] if "sorting cards" in str(entry)]
    assert len(logs) == 1, trace["logs"]
    assert len([entry for entry in trace["logs"] if "live event failed" in str(entry)]) == 1, trace["logs"]
    errors = trace["browser"]["errors"]
    reported = [e for e in errors if e["attributes"].get(keys.EVENT_ID) == reference]
    assert len(reported) == 1, errors
    assert reported[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    # Browser reports carry the socket's connection id, the server's.
    # The browser names an action by the element's event type; the server by the app's handler.
    kinds = sorted((r["type"], r.get("error_kind") or r.get("event_name")) for r in reports
                   if not str(r.get("event_name")).startswith("update:"))  # the typed titles
    assert kinds == [("browser.action", "click"), ("browser.action", "click"),
                     ("browser.error", "reply_error"), ("browser.error", "reply_error")], reports
    assert {r.get("connection_id") for r in reports} == {trace["connection_id"]}, reports
    assert [r.get("event_id") for r in reports if r["type"] == "browser.error"] == [reference, archived], reports
    events = [e for e in trace["context"]["events"] if e["kind"] == "event"]
    assert len(events) == len(events_sent), events  # one trace per event
    assert len({e["event_id"] for e in events}) == len(events_sent), events
    clicks = [e for e in events if not e["event_name"].startswith("update:")]
    assert [(e["event_name"], e["error_class"]) for e in clicks] == [
        ("add_card", None), ("add_card", None), ("sort_by_due", "TypeError"), ("archive_first", "KeyError")], events
    # The plain handler's failure: its own trace, its log line inside, the browser's report under its id.
    assert archive_trace["event_id"] == archived
    assert archive_trace["error_class"] == "KeyError"
    assert archive_trace["connection_id"] == trace["connection_id"]
    assert [s["name"] for s in archive_trace["spans"] if s["name"].startswith("live.event")] == [
        "live.event archive_first"]
    assert [entry for entry in archive_trace["logs"] if "archiving" in str(entry)], archive_trace["logs"]
    assert [e["attributes"].get(keys.EVENT_ID) for e in archive_trace["browser"]["errors"]] == [archived]
    assert not [line for line in console if line.startswith("error")], console
    # One incident per failing click, whichever of span, log line and browser report saw it.
    assert sorted((i["error_class"], i["count"], i["routes"]) for i in incidents) == [
        ("KeyError", 1, ["/board"]), ("TypeError", 1, ["/board"])], incidents
    sort_incident = next(i for i in incidents if i["error_class"] == "TypeError")
    assert sort_incident["message"] == "'<' not supported between instances of 'NoneType' and 'NoneType'"
    assert reference in sort_incident["sample_event_ids"]
    assert archived in next(i for i in incidents if i["error_class"] == "KeyError")["sample_event_ids"]
    assert "Failed to detach context" not in (tmp_path / "app.log").read_text()
