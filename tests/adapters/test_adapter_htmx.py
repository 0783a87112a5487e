"""The htmx ws adapter end to end: htmx 2 and its ws extension in headless Chromium, Starlette under uvicorn and daphne.

The board (``htmx_board.py``) adds cards and fails on "Sort by due" with a real
``TypeError``; the page shows the failing click's reference, and ``liveobs
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
@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_htmx_clicks_are_live_events_and_the_failure_is_found_by_its_reference(
    browser: Any, tmp_path: Path, server: str,
) -> None:
    db = tmp_path / "liveobs.duckdb"
    procs = Processes()
    try:
        _collector, collector_url = start_collector(procs, db, tmp_path)
        app, base_url = start_app(procs, "htmx_board:app", collector_url, tmp_path, "/board", server=server)
        context = browser.new_context(base_url=base_url)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        sent: list[str] = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
        reports: list[dict[str, Any]] = []
        page.on("request", lambda r: reports.extend(json.loads(r.post_data or "{}").get("reports", []))
                if r.url.endswith("/_liveobs/report") else None)
        page.goto("/board")
        session_id = page.get_attribute('meta[name="liveobs-session-id"]', "content")
        assert session_id, "the session cookie layer gave the page no session"
        page.wait_for_function("() => document.querySelector('[ws-connect]') !== null")
        for title in ("Write docs", "Ship it"):
            page.fill("#title", title)
            page.click("#add")
            page.wait_for_selector(f"#cards li:has-text('{title}')", timeout=10_000)
        page.click("#sort")
        page.wait_for_function("() => document.getElementById('ref').textContent.length > 0", timeout=10_000)
        reference = page.inner_text("#ref")
        assert re.fullmatch(UUID7, reference), reference
        assert page.evaluate("liveobs.lastErrorReference()") == reference
        page.wait_for_timeout(2500)  # past the page's 2 s reply timeout: an unanswered click would be reported
        page.evaluate("liveobs.flush()")
        page.wait_for_timeout(300)
        context.close()
        procs.stop(app)  # flushes the app's spans and logs
        trace, incidents = trace_and_incidents(db, tmp_path, reference)
    finally:
        procs.stop_all()

    # Every send carried the envelope: three events, each its own id.
    envelopes = [frame for frame in sent if '"lo":' in frame]
    assert len(envelopes) == 3, sent
    assert trace["event_id"] == reference
    assert trace["error_class"] == "TypeError"
    assert trace["route_id"] == "/board"
    assert trace["session_id"] == session_id
    assert trace["connection_id"]
    assert trace["request_id"]
    server = [s for s in trace["spans"] if s["name"].startswith("live.event")]
    assert len(server) == 1, trace["spans"]
    assert server[0]["attributes"][keys.EVENT_ID] == reference
    assert server[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    assert server[0]["attributes"][keys.CONNECTION_ID] == trace["connection_id"]
    logs = [entry for entry in trace["logs"] if "sorting cards" in str(entry)]
    assert logs, trace["logs"]
    errors = trace["browser"]["errors"]
    reported = [e for e in errors if e["attributes"].get(keys.EVENT_ID) == reference]
    assert len(reported) == 1, errors
    assert reported[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    # The two adds were answered (browser.action with the server's trace), the sort failed: no timeouts.
    kinds = sorted((r["type"], r.get("error_kind") or r.get("event_name")) for r in reports)
    assert kinds == [("browser.action", "add_card"), ("browser.action", "add_card"),
                     ("browser.error", "reply_error")], reports
    assert all(r["trace_id"] for r in reports)
    # One trace per event: the session's three events, each with its own id, only the sort failed.
    events = [e for e in trace["context"]["events"] if e["kind"] == "event"]
    assert len(events) == 3, trace["context"]
    assert len({e["event_id"] for e in events}) == 3
    assert [e["event_name"] for e in events] == ["add_card", "add_card", "sort_by_due"]
    assert [e["error_class"] for e in events] == [None, None, "TypeError"]
    assert not [line for line in console if line.startswith("error")], console
    # One incident for the one failing click, whichever of span, log line and browser report saw it.
    assert [(i["error_class"], i["count"], i["routes"]) for i in incidents] == [("TypeError", 1, ["/board"])], incidents
    assert {"span", "browser"} <= set(incidents[0]["sources"])
    assert reference in incidents[0]["sample_event_ids"]
    assert incidents[0]["message"] == "'<' not supported between instances of 'NoneType' and 'NoneType'"
    app_log = (tmp_path / "app.log").read_text()
    assert "Failed to detach context" not in app_log
    # The failure closed the socket with a code the server accepts (daphne refuses 1011: 4500 there);
    # the handler's own exception still reaches the server, as the app's loop does not catch it.
    assert "invalid close code" not in app_log
