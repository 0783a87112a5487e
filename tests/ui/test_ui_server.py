"""``liveobs ui``'s server over a store written by a real ``liveobs collect``: the key, Host and origin
rules, the security headers, the stable page URLs, and hostile stored text (script tags, terminal escapes,
bidirectional overrides, a megabyte message) rendered inert and bounded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.conventions import keys
from liveobs.correlator._store import open_local
from liveobs.correlator._ui_pages import CSP
from liveobs.correlator._ui_server import COOKIE, UIServer, discovery_path
from tests.cli.test_cli_hostile_text import TRACE_ID as TERMINAL_TRACE_ID
from tests.cli.test_cli_hostile_text import _attr, _collector_fixtures, _hostile_request

TRACE_ID = "5c219751c219751c219751c219751c21"
SESSION = "sess-hostile-1"
SCRIPT = "<script>document.title='PWNED'</script>"
HUGE = "A" * 1_048_576
RAW = ("\x1b", "\x07", "\u202e", "\x9b", "\u2066", "\x00", SCRIPT, "<img")
STACK = (
    "Traceback (most recent call last):\n"
    f'  File "/srv/app/{SCRIPT}.py", line 7, in handler\u202e\n'
    "    return render(x)\n"
    '  File "/usr/lib/python3/dist-packages/jinja2/environment.py", line 1301, in render\n'
    "    self.environment.handle_exception()\n"
    f"ValueError: {SCRIPT}\n"
)


def _script_request() -> dict[str, Any]:
    span = {
        "traceId": TRACE_ID, "spanId": "5c21975100000001", "name": f"live.event {SCRIPT}", "kind": 2,
        "startTimeUnixNano": "1767225700000000000", "endTimeUnixNano": "1767225700005000000",
        "attributes": [_attr(keys.EVENT_ID, "evt-hostile-1"), _attr(keys.SESSION_ID, SESSION),
                       _attr(keys.ERROR_TYPE, f"ValueError{SCRIPT}"), _attr(keys.ROUTE_ID, "<img src=x onerror=alert(1)>")],
        "events": [{
            "name": "exception", "timeUnixNano": "1767225700004000000",
            "attributes": [_attr("exception.type", "ValueError"), _attr("exception.message", SCRIPT + HUGE),
                           _attr("exception.stacktrace", STACK)],
        }],
        "status": {"code": 2, "message": SCRIPT},
    }
    resource = [_attr(keys.SERVICE_NAME, "shop\u202e"), _attr("service.version", f"9.9{SCRIPT}")]
    return {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": [span]}]}]}


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    db = tmp_path_factory.mktemp("ui") / "store.duckdb"
    running = _collector_fixtures().start_collector(db)
    try:
        for body in (_hostile_request(), _script_request()):
            assert httpx.post(f"{running.url}/v1/traces", json=body, timeout=30).status_code == 200
    finally:
        running.stop(timeout=30)
    store = open_local(db)
    server = UIServer(store.connection, db=str(db)).start()
    try:
        yield server
    finally:
        server.close()
        store.close()


def _client(server: UIServer) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    client.cookies.set(COOKIE, server.key)
    return client


def _page(server: UIServer, path: str) -> httpx.Response:
    with _client(server) as client:
        return client.get(path)


def test_the_printed_url_sets_the_key_cookie_and_redirects_without_it(ui: UIServer) -> None:
    with httpx.Client(timeout=30) as client:
        assert client.get(f"{ui.url}/incidents").status_code == 401
        assert client.get(f"{ui.url}/incidents?key=wrong").status_code == 401
        first = client.get(ui.start_url)
        assert first.status_code == 303
        assert first.headers["location"] == "/incidents"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        page = client.get(f"{ui.url}/incidents")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert "default-src 'none'" in CSP
    assert "script-src" not in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in page.text


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_foreign_host_origin_or_site_is_refused_even_with_the_key(ui: UIServer, headers: dict[str, str]) -> None:
    with _client(ui) as client:
        assert client.get("/incidents", headers=headers).status_code == 403


def test_the_view_is_read_only(ui: UIServer) -> None:
    with _client(ui) as client:
        answer = client.post("/incidents", content=b"x")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"


class _Tags(HTMLParser):
    """Every element and attribute name the browser would build from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)


def _assert_inert(html: str) -> None:
    for raw in RAW:
        assert raw not in html, f"raw {raw!r} in the page"
    parsed = _Tags()
    parsed.feed(html)
    assert not parsed.tags & {"script", "img", "iframe", "object", "embed", "link", "base"}
    assert not [name for name in parsed.attributes if name.startswith("on")]
    assert len(html) < 200_000, "a stored megabyte must be cut, not served"


def test_hostile_text_is_inert_on_every_page(ui: UIServer) -> None:
    listing = _page(ui, "/incidents")
    assert listing.status_code == 200
    _assert_inert(listing.text)
    assert "&lt;script&gt;" in listing.text
    assert "\\u202e" in listing.text
    fingerprints = re.findall(r"href='/incidents/([^']+)'", listing.text)
    assert len(fingerprints) == 2
    for fingerprint in fingerprints:
        page = _page(ui, f"/incidents/{fingerprint}")
        assert page.status_code == 200
        _assert_inert(page.text)
    for path in (f"/traces/{TRACE_ID}", f"/traces/{TERMINAL_TRACE_ID}", f"/sessions/{SESSION}"):
        page = _page(ui, path)
        assert page.status_code == 200, path
        _assert_inert(page.text)
    trace = _page(ui, f"/traces/{TRACE_ID}").text
    assert "[truncated: " in trace
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in trace
    assert "\\x1b" in _page(ui, f"/traces/{TERMINAL_TRACE_ID}").text


def test_pages_have_stable_urls_and_link_each_other(ui: UIServer) -> None:
    trace = _page(ui, f"/traces/{TRACE_ID}").text
    assert "<h2>stack trace</h2>" in trace
    assert f"href='/sessions/{SESSION}'" in trace
    incident = re.search(r"href='(/incidents/[^']+)'", trace)
    assert incident is not None
    assert f"href='/traces/{TRACE_ID}'" in _page(ui, incident.group(1)).text
    assert f"href='/traces/{TRACE_ID}'" in _page(ui, f"/sessions/{SESSION}").text
    assert "no gate runs recorded" in _page(ui, "/gates").text
    assert _page(ui, "/traces/" + "0" * 32).status_code == 400
    assert _page(ui, "/traces/" + "1" * 32).status_code == 404
    assert _page(ui, "/nowhere").status_code == 404


def test_incidents_filter_by_release_and_service(ui: UIServer) -> None:
    with _client(ui) as client:
        shown = client.get("/incidents", params={"release": f"9.9{SCRIPT}"}).text
        none = client.get("/incidents", params={"service": "nobody"}).text
        bad = client.get("/incidents", params={"since": "yesterday-ish"})
    assert len(re.findall(r"href='/incidents/[^']+'", shown)) == 1
    assert "no incidents" in none
    assert bad.status_code == 400


def test_trace_open_and_incidents_print_the_page_urls(ui: UIServer) -> None:
    store = str(ui.db)
    env = {"LIVEOBS_TOKEN": "", "LIVEOBS_TOKEN_FILE": ""}
    traced = CliRunner().invoke(main, ["--db", store, "trace", "--trace-id", TRACE_ID, "--open"], env=env)
    assert traced.exit_code == 0, traced.output
    assert f"page: {ui.url}/traces/{TRACE_ID}?key={ui.key}" in traced.stderr
    listed = CliRunner().invoke(main, ["--db", store, "incidents"], env=env)
    assert listed.exit_code == 0, listed.output
    assert len(re.findall(rf"page: {re.escape(ui.url)}/incidents/\S+\?key=", listed.stdout)) == 2
    with httpx.Client(timeout=30) as client:
        url = re.search(r"page: (\S+)", traced.stderr)
        assert url is not None
        opened = client.get(url.group(1), follow_redirects=True)
    assert opened.status_code == 200
    assert f"trace <code class='id'>{TRACE_ID}</code>" in opened.text


def test_without_a_running_view_trace_open_says_how_to_start_one(tmp_path: Path, ui: UIServer) -> None:
    store = str(ui.db)
    discovery = discovery_path(store)
    saved = discovery.read_text(encoding="utf-8")
    discovery.unlink()
    try:
        traced = CliRunner().invoke(main, ["--db", store, "trace", "--trace-id", TRACE_ID, "--open"],
                                    env={"LIVEOBS_TOKEN": "", "LIVEOBS_TOKEN_FILE": ""})
    finally:
        discovery.write_text(saved, encoding="utf-8")
    assert traced.exit_code == 0
    assert "no web view runs for this store; start one with: liveobs --db" in traced.stderr


def test_the_terminal_view_cuts_the_megabyte_message_too(ui: UIServer) -> None:
    traced = CliRunner().invoke(main, ["--db", str(ui.db), "trace", "--trace-id", TRACE_ID],
                                env={"LIVEOBS_TOKEN": "", "LIVEOBS_TOKEN_FILE": ""})
    assert traced.exit_code == 0, traced.output
    assert "[truncated: 1,046," in traced.stdout
    assert len(traced.stdout) < 20_000
