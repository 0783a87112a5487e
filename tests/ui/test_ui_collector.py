"""The web view served by a running ``liveobs collect`` on its own port: the read API's Host and origin
rules, the token's derived key (the token itself opens no page), the security headers, and the CLI
printing page URLs of the collector that owns the store."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator._ui_http import COOKIE, ui_key
from liveobs.correlator._ui_pages import CSP
from tests.cli.test_cli_hostile_text import _collector_fixtures
from tests.cli.test_cli_stacktrace import TRACE_ID, _request


@pytest.fixture(scope="module")
def open_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running = _collector_fixtures().start_collector(tmp_path_factory.mktemp("open") / "store.duckdb")
    try:
        assert httpx.post(f"{running.url}/v1/traces", json=_request(), timeout=30).status_code == 200
        yield running
    finally:
        running.stop(timeout=30)


@pytest.fixture(scope="module")
def token_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    token = secrets.token_urlsafe(24)
    running = _collector_fixtures().start_collector(tmp_path_factory.mktemp("token") / "store.duckdb", token=token)
    try:
        answer = httpx.post(f"{running.url}/v1/traces", json=_request(), timeout=30,
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        yield running
    finally:
        running.stop(timeout=30)


def test_without_a_token_pages_follow_the_host_and_origin_rules(open_collector: Any) -> None:
    with httpx.Client(base_url=open_collector.url, timeout=30) as client:
        page = client.get("/incidents")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert "KeyError" in page.text
        trace = client.get(f"/traces/{TRACE_ID}")
        assert trace.status_code == 200
        assert "_failing_hook" in trace.text
        assert client.get("/incidents", headers={"Host": "evil.example"}).status_code == 403
        assert client.get("/incidents", headers={"Origin": "http://evil.example"}).status_code == 403
        assert client.get("/incidents", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert client.get("/healthz").status_code == 200  # the collector's own paths are unchanged


def test_with_a_token_a_page_needs_the_derived_key(token_collector: Any) -> None:
    key = ui_key(token_collector.token)
    with httpx.Client(base_url=token_collector.url, timeout=30) as client:
        assert client.get("/incidents").status_code == 401
        assert client.get("/incidents", params={"key": token_collector.token}).status_code == 401
        assert client.get("/incidents", headers={"Authorization": f"Bearer {token_collector.token}"}).status_code == 401
        first = client.get(f"/traces/{TRACE_ID}", params={"key": key})
        assert first.status_code == 303
        assert first.headers["location"] == f"/traces/{TRACE_ID}"
        assert "HttpOnly" in first.headers["set-cookie"]
        assert client.cookies.get(COOKIE) == key
        page = client.get(f"/traces/{TRACE_ID}")
    assert page.status_code == 200
    assert "<h2>stack trace</h2>" in page.text


def test_the_cli_prints_the_collectors_page_urls(token_collector: Any) -> None:
    env = {"LIVEOBS_TOKEN": token_collector.token, "LIVEOBS_TOKEN_FILE": ""}
    db = str(token_collector.db)
    traced = CliRunner().invoke(main, ["--db", db, "trace", "--trace-id", TRACE_ID, "--open"], env=env)
    assert traced.exit_code == 0, traced.output
    key = ui_key(token_collector.token)
    assert f"page: {token_collector.url}/traces/{TRACE_ID}?key={key}" in traced.stderr
    listed = CliRunner().invoke(main, ["--db", db, "incidents"], env=env)
    assert listed.exit_code == 0, listed.output
    found = re.search(r"page: (\S+)", listed.stdout)
    assert found is not None
    with httpx.Client(timeout=30) as client:
        assert client.get(found.group(1), follow_redirects=True).status_code == 200
