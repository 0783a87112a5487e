"""Shared fixtures: an in-test OTLP/HTTP receiver, liveobs configured against it, a real uvicorn server."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import uvicorn
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import liveobs.sdk


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass
class Receiver:
    """What the OTLP/HTTP receiver got: decoded spans and log records, and every raw body."""

    url: str = ""
    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, path: str, body: bytes) -> None:
        with self.lock:
            self.raw.append(body)
            if path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for rs in request.resource_spans:
                    resource = _attrs(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            self.spans.append({
                                "name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                "parent_span_id": s.parent_span_id.hex(), "kind": s.kind,
                                "attributes": _attrs(s.attributes), "resource": resource,
                                "status": s.status.code, "status_message": s.status.message,
                                "events": [{"name": e.name, "attributes": _attrs(e.attributes)} for e in s.events],
                                "links": [{"trace_id": ln.trace_id.hex(), "span_id": ln.span_id.hex(),
                                           "attributes": _attrs(ln.attributes)} for ln in s.links],
                            })
            elif path == "/v1/logs":
                request = ExportLogsServiceRequest()
                request.ParseFromString(body)
                for rl in request.resource_logs:
                    resource = _attrs(rl.resource.attributes)
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            self.logs.append({
                                "body": _value(r.body), "attributes": _attrs(r.attributes),
                                "trace_id": r.trace_id.hex(), "span_id": r.span_id.hex(),
                                "severity_text": r.severity_text, "event_name": r.event_name,
                                "resource": resource,
                            })

    def all_bytes(self) -> bytes:
        with self.lock:
            return b"".join(self.raw)

    def spans_named(self, prefix: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Spans whose name starts with ``prefix``, waiting until ``count`` have arrived.

        A server ends its span after the response has left, so a client can be
        a moment ahead of the export.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [s for s in self.spans if s["name"].startswith(prefix)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def logs_with(self, body: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [r for r in self.logs if r["body"] == body]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.take(self.path, body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Configured:
    telemetry: liveobs.sdk.Telemetry
    receiver: Receiver
    metrics: InMemoryMetricReader
    log_lines: io.StringIO

    def flush(self) -> None:
        self.telemetry.force_flush()


@pytest.fixture
def configured(receiver: Receiver) -> Iterator[Configured]:
    lines = io.StringIO()
    reader = InMemoryMetricReader()
    telemetry = liveobs.sdk.configure(
        "board-app", "1.4.2", "test", endpoint=receiver.url, batch=False, metric_readers=[reader],
        log_file=lines, cache_logger=False, set_global=False,
    )
    try:
        yield Configured(telemetry, receiver, reader, lines)
    finally:
        liveobs.sdk.shutdown()


@dataclass
class Server:
    host: str
    port: int

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}"


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Server]]:
    """Start a real uvicorn server on 127.0.0.1 (a free port) for an ASGI app."""
    started: list[tuple[uvicorn.Server, threading.Thread, socket.socket]] = []

    def start(app: Any) -> Server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, log_config=None, access_log=False, ws="websockets-sansio", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        started.append((server, thread, sock))
        return Server("127.0.0.1", sock.getsockname()[1])

    yield start
    for server, thread, sock in started:
        server.should_exit = True
        thread.join(10)
        sock.close()


# --- the test app: a small live board under the real middleware --------------------

def ids_here() -> dict[str, Any]:
    from opentelemetry import trace

    ids = liveobs.sdk.current_ids()
    ctx = trace.get_current_span().get_span_context()
    return {
        "request_id": ids.request_id, "event_id": ids.event_id, "session_id": ids.session_id,
        "connection_id": ids.connection_id, "trace_id": f"{ctx.trace_id:032x}",
        "vetted": ids.vetted_by is not None and ids.vetted_by is getattr(liveobs.sdk.current_telemetry(), "scrubber", 0),
    }


async def _ids_in_every_boundary() -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    async def in_task() -> dict[str, Any]:
        await asyncio.sleep(0)
        return ids_here()

    seen: dict[str, Any] = {"direct": ids_here()}
    await asyncio.sleep(0.001)
    seen["await"] = ids_here()
    seen["threadpool"] = await run_in_threadpool(ids_here)
    seen["task"] = await asyncio.create_task(in_task())
    seen["to_thread"] = await asyncio.to_thread(ids_here)
    with liveobs.sdk.ContextExecutor(max_workers=1) as pool:
        seen["executor"] = await asyncio.get_running_loop().run_in_executor(pool, ids_here)
    return seen


def _build_app(**middleware: Any) -> Any:
    import json

    import structlog
    from starlette.applications import Starlette
    from starlette.endpoints import WebSocketEndpoint
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    log = structlog.get_logger("board")

    async def page(request: Request) -> Response:
        log.info("page rendered", board=request.path_params["board_id"])
        return HTMLResponse(f"<html><head>{liveobs.sdk.head_tags()}</head><body>board</body></html>")

    async def welcome(request: Request) -> Response:
        """A first visit: the app starts a session before rendering."""
        if "sid" not in request.cookies:
            liveobs.sdk.start_session("fresh-session-key")
        log.info("welcomed")
        response = HTMLResponse(f"<html><head>{liveobs.sdk.head_tags()}</head><body>hello</body></html>")
        response.set_cookie("sid", "fresh-session-key")
        return response

    async def boom(request: Request) -> Response:
        raise RuntimeError("database password=hunter2 unreachable")

    async def boundaries(request: Request) -> Response:
        return JSONResponse(await _ids_in_every_boundary())

    class Live(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            message = json.loads(data)
            if message.get("action") == "fail":
                raise LookupError("card 42 is gone; token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5")
            log.info("event handled", action=message.get("action"))
            seen = await _ids_in_every_boundary() if message.get("action") == "boundaries" else None
            await websocket.send_text(json.dumps({"patch": "<li class='card'>card</li>" * 20, "seen": seen}))

    class SafeLive(Live):
        on_receive = liveobs.sdk.handle_event(Live.on_receive)  # type: ignore[assignment]

    health = middleware.pop("health", None) or liveobs.sdk.Health(version="1.4.2", release_id="1.4.2")
    app = Starlette(routes=[
        Route("/board/{board_id}", page), Route("/welcome", welcome), Route("/boom", boom), Route("/boundaries", boundaries),
        WebSocketRoute("/live", Live), WebSocketRoute("/live-safe", SafeLive),
    ])
    middleware.setdefault("session", liveobs.sdk.cookie_session("sid"))
    return liveobs.sdk.LiveObsMiddleware(app, health=health, **middleware)


def _envelope(action: str, event_id: str, seq: int, **lo: Any) -> str:
    import json

    return json.dumps({"action": action, "lo": {"event_id": event_id, "event_name": action, "seq": seq,
                                                 "route_id": "/board/{board_id}", **lo}})


@pytest.fixture
def build_app() -> Callable[..., Any]:
    """``build_app(**middleware_options)``: the board app under ``LiveObsMiddleware``."""
    return _build_app


@pytest.fixture
def envelope() -> Callable[..., str]:
    """``envelope(action, event_id, seq, **lo)``: one live message as the browser sends it."""
    return _envelope
