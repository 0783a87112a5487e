"""The web view in headless Chromium on the demo's evidence: Kukulkan's failing click, recorded by a real
collector, found from the incidents page by clicks only, down to its trace (with the app frame of the real
bug in the stack trace) and its session. Screenshots go to ``test-artifacts/`` (git-ignored); the page
logs no console error and every answer carries the Content-Security-Policy."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "kukulkan"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from kukulkan.accounts import DEMO_ACCOUNTS  # noqa: E402
from kukulkan.demo import processes, start_collector, start_deployed  # noqa: E402

from liveobs.correlator._store import open_local  # noqa: E402
from liveobs.correlator._ui_pages import CSP  # noqa: E402
from liveobs.correlator._ui_server import UIServer  # noqa: E402

ARTIFACTS = REPO / "test-artifacts"
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
PASSWORD = {name: password for name, password, _ in DEMO_ACCOUNTS}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _record_failing_click(browser: Any, db: Path, tmp_path: Path) -> tuple[str, str]:
    """Sign in to Kukulkan, sort the to-do column (the real bug), and return (reference, session id)."""
    with processes() as procs:
        collector, collector_url = start_collector(procs, db, tmp_path)
        app, base_url = start_deployed(procs, collector_url, tmp_path)
        page = browser.new_page()
        page.goto(base_url + "/")
        page.fill("#username", "ana")
        page.fill("#password", PASSWORD["ana"])
        page.click("#signin")
        page.wait_for_selector('#status[data-state="live"]', timeout=10_000)
        session_id = page.get_attribute('meta[name="liveobs-session-id"]', "content") or ""
        page.click("#sort-todo")
        page.wait_for_selector("#error-banner:not([hidden])", timeout=10_000)
        found = re.fullmatch(rf"Something went wrong — reference ({UUID7})", page.inner_text("#error-banner"))
        assert found is not None
        page.evaluate("liveobs.flush()")
        page.close()
        app.stop()
        procs.stop(collector)
    return found.group(1), session_id


@pytest.mark.timeout(180)
def test_from_the_incidents_page_to_the_failing_clicks_trace_and_session(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "liveobs.duckdb"
    reference, session_id = _record_failing_click(browser, db, tmp_path)
    ARTIFACTS.mkdir(exist_ok=True)
    store = open_local(db)
    server = UIServer(store.connection, db=str(db)).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        policies: list[str | None] = []
        page.on("response", lambda r: policies.append(r.headers.get("content-security-policy")))

        page.goto(server.start_url)
        assert page.url == f"{server.url}/incidents"
        page.screenshot(path=str(ARTIFACTS / "ui-incidents.png"), full_page=True)
        page.click("a.failed >> text=TypeError")
        page.wait_for_selector("h1 >> text=incident")
        assert "kukulkan/board.py" in page.inner_text("li.failing")
        assert "sort_by_due" in page.inner_text("li.failing")
        page.screenshot(path=str(ARTIFACTS / "ui-incident.png"), full_page=True)

        page.click(f"tr:has(code:text-is('{reference}')) a[href^='/traces/']")
        page.wait_for_selector("h2 >> text=stack trace")
        assert page.url.startswith(f"{server.url}/traces/")
        assert reference in page.inner_text("table.ids")
        failing = page.inner_text("li.failing")
        assert re.search(r"kukulkan/board\.py:\d+ in sort_by_due", failing), failing
        assert "sorted(" in failing  # the source line of the real bug
        assert "in release kukulkan 1.4.0" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "ui-trace.png"), full_page=True)

        page.click("text=open the session")
        page.wait_for_selector("h1 >> text=session")
        assert session_id in page.inner_text("h1")
        timeline = page.inner_text("table.list")
        assert "page load" in timeline
        assert "live event" in timeline
        assert "sort_by_due" in timeline
        assert "browser error" in timeline
        page.screenshot(path=str(ARTIFACTS / "ui-session.png"), full_page=True)
    finally:
        context.close()
        server.close()
        store.close()

    assert problems == []
    assert policies
    assert all(policy == CSP for policy in policies)
    for name in ("incidents", "incident", "trace", "session"):
        assert (ARTIFACTS / f"ui-{name}.png").stat().st_size > 5_000
