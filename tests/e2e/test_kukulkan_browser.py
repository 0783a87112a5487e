"""Kukulkan in headless Chromium: sign in, click through, hit the bug, and look the reference up.

The collector and the app run as the demo runs them (subprocesses on free
127.0.0.1 ports); the browser is Debian's chromium driven by Playwright. The
test fails, never skips, when chromium is missing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from liveobs.conventions import keys

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "kukulkan"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from kukulkan.accounts import DEMO_ACCOUNTS  # noqa: E402
from kukulkan.demo import processes, start_collector, start_deployed  # noqa: E402

ARTIFACTS = REPO / "test-artifacts"
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
PASSWORD = {name: password for name, password, _ in DEMO_ACCOUNTS}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _meta(page: Any, name: str) -> str:
    value = page.get_attribute(f'meta[name="{name}"]', "content")
    assert value, f"the page has no {name} meta tag"
    return str(value)


@pytest.mark.timeout(120)
def test_failing_click_in_the_browser_is_found_by_its_reference(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "liveobs.duckdb"
    liveobs = str(Path(sys.executable).parent / "liveobs")
    with processes() as procs:
        collector, collector_url = start_collector(procs, db, tmp_path)
        app, base_url = start_deployed(procs, collector_url, tmp_path)

        page = browser.new_page()
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(base_url + "/")
        page.fill("#username", "ana")
        page.fill("#password", PASSWORD["ana"])
        page.click("#signin")
        page.wait_for_selector('#status[data-state="live"]', timeout=10_000)
        session_id = _meta(page, keys.META_SESSION_ID)
        route_id = _meta(page, keys.META_ROUTE_ID)
        assert _meta(page, keys.META_RELEASE) == "1.4.0"

        page.fill("#new-title", "Clicked in a real browser")
        page.click("#add")
        page.wait_for_selector("text=Clicked in a real browser", timeout=10_000)
        page.click("#card-c3 .move >> text=→ done")
        page.wait_for_selector("#col-done #card-c3", timeout=10_000)
        assert page.is_hidden("#error-banner")

        page.click("#sort-todo")
        page.wait_for_selector("#error-banner:not([hidden])", timeout=10_000)
        banner = page.inner_text("#error-banner")
        found = re.fullmatch(rf"Something went wrong — reference ({UUID7})", banner)
        assert found is not None, banner
        reference = found.group(1)
        assert page.get_attribute("#error-banner", "data-reference") == reference
        assert page.evaluate("liveobs.lastErrorReference()") == reference
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("main").screenshot(path=str(ARTIFACTS / "kukulkan-error-reference.png"))
        page.evaluate("liveobs.flush()")
        page.close()
        assert not [e for e in console_errors if "Content Security Policy" in e or "integrity" in e]

        app.stop()  # flushes the app's last spans and the browser's report
        result = subprocess.run([liveobs, "--db", str(db), "trace", "--event-id", reference, "--json"],
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        trace = json.loads(result.stdout)
        procs.stop(collector)

    assert trace["event_id"] == reference
    assert trace["error_class"] == "TypeError"
    assert trace["session_id"] == session_id
    assert trace["route_id"] == route_id
    assert trace["release"] == "1.4.0"
    server = [s for s in trace["spans"] if s["name"] == "live.event sort_by_due"]
    assert len(server) == 1
    attributes = server[0]["attributes"]
    assert attributes[keys.EVENT_ID] == reference
    assert attributes[keys.ERROR_TYPE] == "TypeError"
    assert attributes[keys.SESSION_ID] == session_id
    assert attributes[keys.CONNECTION_ID] == trace["connection_id"]
    # The browser's own report of the failed reply reached the store with the same ids.
    reported = [e for e in trace["browser"]["errors"] if e["attributes"].get(keys.EVENT_ID) == reference]
    assert len(reported) == 1
    assert reported[0]["event_name"] == keys.BROWSER_ERROR_EVENT
    assert reported[0]["attributes"][keys.ERROR_TYPE] == "TypeError"
    assert reported[0]["attributes"][keys.SESSION_ID] == session_id
    assert (ARTIFACTS / "kukulkan-error-reference.png").stat().st_size > 1000
