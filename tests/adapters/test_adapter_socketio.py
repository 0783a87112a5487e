"""The socket.io adapter end to end: python-socketio under uvicorn, the socket.io JS client in headless Chromium.

The board (``socketio_board.py``) adds cards (an async handler whose
acknowledgement is a dict) and fails on "Sort by due" (a sync handler) with a
real ``TypeError``; the page shows the failing emit's reference, and ``liveobs
trace --event-id`` against a real ``liveobs collect`` answers it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from adapter_helpers import UUID7, Processes, start_app, start_collector, trace_and_incidents

from liveobs.conventions import keys

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.timeout(120)
def test_socketio_emits_are_live_events_and_the_failure_is_found_by_its_reference(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "liveobs.duckdb"
    procs = Processes()
    try:
        _collector, collector_url = start_collector(procs, db, tmp_path)
        app, base_url = start_app(procs, "socketio_board:app", collector_url, tmp_path, "/vendor/socket.io-4.8.4.min.js")
        context = browser.new_context(base_url=base_url)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        reports: list[dict[str, Any]] = []
        page.on("request", lambda r: reports.extend(json.loads(r.post_data or "{}").get("reports", []))
                if r.url.endswith("/_liveobs/report") else None)
        page.goto("/board")
        session_id = page.get_attribute('meta[name="liveobs-session-id"]', "content")
        assert session_id, "the session cookie layer gave the page no session"
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

    assert len(sockets) == 1, sockets  # one WebSocket, no polling, no reconnect: the failure kept the socket
    assert "lo_cid=" in sockets[0]
    assert trace["event_id"] == reference
    assert trace["error_class"] == "TypeError"
    assert trace["route_id"] == "/board"
    assert trace["session_id"] == session_id
    assert trace["connection_id"]
    assert trace["connection_id"] in sockets[0]
    assert trace["request_id"]
    server = [s for s in trace["spans"] if s["name"].startswith("live.event")]
    assert len(server) == 1, trace["spans"]
    assert server[0]["attributes"][keys.EVENT_ID] == reference
    assert server[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    logs = [entry for entry in trace["logs"] if "sorting cards" in str(entry)]
    assert len(logs) == 1, trace["logs"]
    errors = trace["browser"]["errors"]
    reported = [e for e in errors if e["attributes"].get(keys.EVENT_ID) == reference]
    assert len(reported) == 1, errors
    assert reported[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    # Browser reports carry the socket's connection id, the server's.
    kinds = sorted((r["type"], r.get("error_kind") or r.get("event_name")) for r in reports)
    assert kinds == [("browser.action", "add_card"), ("browser.action", "add_card"),
                     ("browser.error", "reply_error")], reports
    assert {r.get("connection_id") for r in reports} == {trace["connection_id"]}, reports
    events = [e for e in trace["context"]["events"] if e["kind"] == "event"]
    assert [e["event_name"] for e in events] == ["add_card", "add_card", "sort_by_due"]
    assert len({e["event_id"] for e in events}) == 3
    assert [e["error_class"] for e in events] == [None, None, "TypeError"]
    assert not [line for line in console if line.startswith("error")], console
    clicked = [i for i in incidents if i["error_class"] == "TypeError" or reference in i["sample_event_ids"]]
    assert [(i["error_class"], i["count"], i["routes"]) for i in clicked] == [("TypeError", 1, ["/board"])], incidents
    assert clicked[0]["message"] == "'<' not supported between instances of 'NoneType' and 'NoneType'"
    assert reference in clicked[0]["sample_event_ids"]
    assert "Failed to detach context" not in (tmp_path / "app.log").read_text()
