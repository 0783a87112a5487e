"""``liveobs probe`` against a real Starlette app on uvicorn: a good and a deliberately weak configuration."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import uvicorn
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from liveobs.cli import main
from liveobs.correlator._db import connect
from liveobs.correlator.gates import Status, Subject, run_gates

TOKEN = "probe-token"
WEAK_FAILS = ("security.csp", "security.sri", "security.ws_origin", "security.ws_host", "security.body_limit",
              "security.rate_limit", "deploy.readiness")
GOOD_CSP = ("default-src 'self'; script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")
# The audit's false pass: a nonce (static, too) next to 'unsafe-eval' and wildcards.
WEAK_CSP = "default-src *; script-src * 'unsafe-eval' 'nonce-AAAA'; object-src *; base-uri *"
ASSET = b"/* liveobs */"


def _app(strict: bool) -> ASGIApp:
    """The page, its client asset, readiness and the live socket; ``strict=False`` gets each one wrong."""
    digest = base64.b64encode(hashlib.sha384(ASSET if strict else b"another build").digest()).decode()
    scripts = f'<script src="/static/liveobs.js" integrity="sha384-{digest}" crossorigin="anonymous"></script>'
    if not strict:
        scripts += '<script src="http://tracker.invalid/t.js"></script>'
    page = (f'<html><head><meta name="liveobs-release" content="2.0.0"></head><body>{scripts}</body></html>')
    hits: list[float] = []

    async def index(request: Request) -> Response:
        if request.method == "POST":
            body = await request.body()
            if strict and len(body) > 1024 * 1024:
                return PlainTextResponse("too large", status_code=413)
            return PlainTextResponse("ok")
        now = time.monotonic()
        hits.append(now)
        if len([t for t in hits if now - t < 1.0]) > 20 and strict:
            return PlainTextResponse("slow down", status_code=429)
        policy = GOOD_CSP.format(nonce=secrets.token_urlsafe(16)) if strict else WEAK_CSP
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})

    async def asset(request: Request) -> Response:
        if not strict:
            return PlainTextResponse("not found", status_code=404)
        return Response(ASSET, media_type="text/javascript")

    async def readyz(request: Request) -> Response:
        if not strict:
            return RedirectResponse("/login", status_code=302)
        return JSONResponse({"status": "pass", "version": "2.0.0"})

    async def login(request: Request) -> Response:
        return HTMLResponse("<form>sign in</form>")

    async def readiness(request: Request) -> Response:
        version = {"version": "2.0.0"} if strict else {"version": "1.3.2", "releaseId": "fixture-test"}
        return JSONResponse({"status": "pass", **version}, media_type="application/health+json")

    async def live(ws: WebSocket) -> None:
        origin, host = ws.headers.get("origin", ""), ws.headers.get("host", "")
        if strict and (not origin.startswith("http://127.0.0.1") or not host.startswith("127.0.0.1")):
            await ws.close(code=1008)
            return
        await ws.accept()
        await ws.close()

    return Starlette(routes=[
        Route("/", index, methods=["GET", "POST"]), Route("/static/liveobs.js", asset), Route("/readyz", readyz),
        Route("/login", login), Route("/live/readiness.json", readiness), WebSocketRoute("/live/websocket", live),
    ])


def _serve(app: ASGIApp) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def good_app() -> Iterator[str]:
    yield from _serve(_app(strict=True))


@pytest.fixture
def weak_app() -> Iterator[str]:
    yield from _serve(_app(strict=False))


def _probe(db: Path, url: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["--db", str(db), "probe", url, "--service", "shop", "--burst", "30", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _statuses(db: Path) -> dict[str, Status]:
    con = connect(db)
    try:
        checks = ["security.csp", "security.sri", "security.ws_origin", "security.ws_host", "security.body_limit",
                  "security.rate_limit", "deploy.readiness"]
        return {c: run_gates(con, c, Subject(service="shop")).results[0].status for c in checks}
    finally:
        con.close()


def test_probe_of_a_good_app_records_evidence_that_passes(good_app: str, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    seen = _probe(db, good_app)
    assert seen["release"] == "2.0.0"
    assert seen["recorded"] == len(seen["steps"])  # type: ignore[arg-type]
    statuses = _statuses(db)
    assert statuses == dict.fromkeys(statuses, Status.PASS)


def test_probe_of_a_weak_app_turns_the_matching_checks_to_fail(weak_app: str, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    _probe(db, weak_app)
    con = connect(db)
    try:
        report = run_gates(con, "all", Subject(service="shop"))
    finally:
        con.close()
    reasons = {r.id: r.reason for r in report.results}
    for check in WEAK_FAILS:
        assert next(r.status for r in report.results if r.id == check) is Status.FAIL, reasons[check]
    # Why, from what was observed:
    assert "'unsafe-eval'" in reasons["security.csp"]
    assert "nonces served on more than one response" in reasons["security.csp"]
    assert "the asset answered 404" in reasons["security.sri"]
    assert "http://tracker.invalid/t.js: no integrity" in reasons["security.sri"]
    assert "/readyz redirected 1 times" in reasons["deploy.readiness"]
    assert "body names release 1.3.2" in reasons["deploy.readiness"]


def test_probe_of_nothing_listening_is_one_line_and_exit_3(tmp_path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "s.duckdb"), "probe", f"http://127.0.0.1:{port}/"])
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot probe" in result.stderr


def _collector_fixtures() -> ModuleType:
    """The correlator tests' collector starter (a real ``liveobs collect`` subprocess)."""
    name = "correlator_collector_fixtures"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "correlator" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_probe_while_a_collector_owns_the_store_records_through_it(weak_app: str, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    running = _collector_fixtures().start_collector(db, token=TOKEN)
    try:
        runner = CliRunner(env={"LIVEOBS_TOKEN": TOKEN, "LIVEOBS_TOKEN_FILE": None})
        result = runner.invoke(main, ["--db", str(db), "probe", weak_app, "--service", "shop", "--burst", "30"])
        assert result.exit_code == 0, result.output
        assert f"via collector {running.url}" in result.stdout
        checked = runner.invoke(main, ["--db", str(db), "check", "security.csp", "--service", "shop", "--json"])
        assert json.loads(checked.stdout)["checks"][0]["status"] == "fail"
    finally:
        assert running.stop(timeout=30) == 0
    statuses = _statuses(db)
    for check in WEAK_FAILS:
        assert statuses[check] is Status.FAIL, check


def test_probe_with_a_token_the_collector_refuses_is_one_line_and_exit_3(good_app: str, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    running = _collector_fixtures().start_collector(db, token=TOKEN)
    try:
        result = CliRunner(env={"LIVEOBS_TOKEN": "wrong", "LIVEOBS_TOKEN_FILE": None}).invoke(
            main, ["--db", str(db), "probe", good_app, "--burst", "5"])
    finally:
        running.stop(timeout=30)
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "401" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_rate_limited_answer_is_no_csp_evidence(tmp_path: Path) -> None:
    """The probe meets a 429 text/plain: that answer is not a page, so CSP is unknown, never fail."""

    async def limited(request: Request) -> Response:
        return PlainTextResponse("slow down", status_code=429)

    app = Starlette(routes=[Route("/", limited, methods=["GET", "POST"])])
    for url in _serve(app):
        db = tmp_path / "store.duckdb"
        seen = _probe(db, url)
        page = next(s for s in seen["steps"] if s["step"] == "page")  # type: ignore[union-attr]
        assert "not a page" in page["summary"]
        assert page["events"] == []
        con = connect(db)
        try:
            result = run_gates(con, "security.csp", Subject(service="shop")).results[0]
        finally:
            con.close()
        assert result.status is Status.UNKNOWN, result.reason
