"""CPU per live event of each framework adapter, against the same framework app without liveobs.

Each case is a small app in its framework's idiom, driven in process through the
framework's own ASGI dispatch (its router, its WebSocket handling, its protocol
parsing and replies; no sockets, so only the framework and liveobs are measured):

  core       a bare ASGI WebSocket loop answering JSON, under observe_live_app
  htmx       a Starlette WebSocketRoute answering HTML fragments, under observe_htmx_app
  pyview     a pyview LiveView (Phoenix frames: phx_join, then event/phx_reply),
             under observe_phoenix_app with pyview's LiveObsInstrumentation
  channels   a Django Channels JsonWebsocketConsumer (sync: a thread per message)
             behind ProtocolTypeRouter/URLRouter/SessionMiddlewareStack, with the
             LiveObsConsumer mixin under observe_channels_app
  socketio   a python-socketio AsyncServer (engine.io packets, acknowledgements),
             under observe_socketio and observe_socketio_app
  nicegui    a NiceGUI page with a button (its page request, the implicit handshake
             of its socket.io client, its "event" messages), under observe_nicegui's
             middleware and event handler

A client sends one message at a time and waits for its reply, as a browser
does. The observed run's messages carry the ``lo`` envelope its companion adds;
the plain run's do not. Each case alternates plain and observed rounds in the
same process; the figures are medians of CPU time (process_time: all threads,
so Channels' worker threads count) per event, and the ratio compares the two
within the run (NiceGUI's is one global app: the event handler is swapped
between rounds). Spans and log records go through the batch processors to
exporters that discard them; the handlers write no log line (bench_sdk.py
measures the log bridge). ``python benchmarks/bench_adapters.py [events]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import liveobs.sdk

ROUNDS = 5
REPLY_TIMEOUT_S = 10.0
COOKIE = (b"cookie", b"liveobs_sid=bench")
HX_HEADERS = {"HX-Request": "true", "HX-Trigger": "add", "HX-Trigger-Name": "add_card"}
Frames = list[tuple[str, Callable[[str], bool] | None]]


class DiscardSpans(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class DiscardLogs(LogRecordExporter):
    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _lo(i: int) -> dict[str, Any]:
    return {"event_id": f"01a24537-a23d-7{i % 4096:03x}-8f4a-{i:012x}", "event_name": "add_card", "seq": i + 1,
            "route_id": "/board"}


def _any(text: str) -> bool:
    return True


@dataclass
class Case:
    """One framework: its app without and with liveobs, the socket's path, the conversation."""

    name: str
    plain: Any
    observed: Any
    path: str
    query: bytes
    frames: Callable[[int, bool], Frames]
    # For a framework whose socket needs a page first: (app, events, observed) -> the socket's query and frames.
    page: Callable[[Any, int, bool], Awaitable[tuple[bytes, Frames]]] | None = None

    async def run(self, app: Any, n: int, lo: bool) -> None:
        query, frames = (self.query, self.frames(n, lo)) if self.page is None else await self.page(app, n, lo)
        await _talk(app, self.path, query, frames)


async def _talk(app: Any, path: str, query: bytes, frames: Frames) -> None:
    """Open the socket, send each frame after the reply to the one before, then disconnect."""
    answered = asyncio.Event()
    answered.set()
    expected: list[Callable[[str], bool] | None] = [None]
    pending = iter(frames)
    opened = False
    seen: list[str] = []

    async def receive() -> dict[str, Any]:
        nonlocal opened
        if not opened:
            opened = True
            return {"type": "websocket.connect"}
        try:
            await asyncio.wait_for(answered.wait(), REPLY_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"{path}: no reply within {REPLY_TIMEOUT_S} s; last sent: {seen[-3:]}") from None
        step = next(pending, None)
        if step is None:
            return {"type": "websocket.disconnect", "code": 1000}
        text, expect = step
        if expect is not None:
            answered.clear()
            expected[0] = expect
        return {"type": "websocket.receive", "text": text}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            text = message.get("text") or ""
            if len(seen) < 64:
                seen.append(text[:200])
            check = expected[0]
            if check is not None and check(text):
                expected[0] = None
                answered.set()
        elif message["type"] == "websocket.close":
            raise RuntimeError(f"{path}: the app closed the socket ({message.get('code')}, {message.get('reason')}); "
                               f"it sent {seen[-3:]}")

    scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "query_string": query, "scheme": "ws",
             "headers": [(b"host", b"127.0.0.1"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket"),
                         (b"origin", b"http://127.0.0.1"), COOKIE],
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "subprotocols": [],
             "asgi": {"version": "3.0", "spec_version": "2.4"}}
    await app(scope, receive, send)


def _cpu(app: Any, case: Case, n: int, lo: bool) -> float:
    start = time.process_time()
    asyncio.run(case.run(app, n, lo))
    return time.process_time() - start


# --- core: the lo envelope over a bare ASGI WebSocket loop ----------------------------------------------------------

def core_case() -> Case:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] != "websocket.disconnect":
            title = json.loads(message["text"])["title"]
            await send({"type": "websocket.send", "text": json.dumps({"patch": f"<li>{title}</li>"})})

    def frames(n: int, lo: bool) -> Frames:
        return [(json.dumps({"title": "card", **({"lo": _lo(i)} if lo else {})}), _any) for i in range(n)]

    observed = liveobs.sdk.observe_live_app(app, session=liveobs.sdk.cookie_session("liveobs_sid"))
    return Case("core (observe_live_app)", app, observed, "/ws", b"", frames)


# --- htmx: Starlette's WebSocketRoute answering HTML fragments ------------------------------------------------------

def htmx_case() -> Case:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from liveobs.sdk.adapters.htmx import observe_htmx_app

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        count = 0
        try:
            while True:
                data = await websocket.receive_json()
                count += 1
                await websocket.send_text(f'<ul id="cards" hx-swap-oob="true"><li>{data["title"]} {count}</li></ul>')
        except WebSocketDisconnect:
            pass

    def frames(n: int, lo: bool) -> Frames:
        return [(json.dumps({"title": "card", "HEADERS": HX_HEADERS, **({"lo": _lo(i)} if lo else {})}), _any)
                for i in range(n)]

    def app() -> Any:
        return Starlette(routes=[WebSocketRoute("/ws", live)])

    return Case("htmx ws (Starlette, observe_htmx_app)", app(), observe_htmx_app(app()), "/ws", b"", frames)


# --- pyview: a LiveView over the Phoenix channel protocol ------------------------------------------------------------

def pyview_case() -> Case:
    from dataclasses import dataclass as data

    from pyview import LiveView, LiveViewSocket, PyView
    from pyview.csrf import generate_csrf_token
    from pyview.template.live_template import LiveRender, LiveTemplate
    from pyview.vendor.ibis import Template

    from liveobs.sdk.adapters.phoenix import observe_phoenix_app
    from liveobs.sdk.adapters.pyview import LiveObsInstrumentation

    @data
    class Board:
        count: int = 0

    class BoardLiveView(LiveView[Board]):
        async def mount(self, socket: LiveViewSocket[Board], session: dict[str, Any]) -> None:
            socket.context = Board()

        async def handle_event(self, event: str, payload: dict[str, Any], socket: LiveViewSocket[Board]) -> None:
            socket.context.count += 1

        async def render(self, assigns: Board, meta: Any) -> Any:
            return LiveRender(template, assigns, meta)

    template = LiveTemplate(Template("<ul id='cards'><li>{{ count }} cards</li></ul>", template_id="bench-board"))

    topic = "lv:phx-bench"

    def reply_to(ref: str) -> Callable[[str], bool]:
        marker = f'"{ref}", "{topic}", "phx_reply"'
        return lambda text: marker in text or f'"{ref}","{topic}","phx_reply"' in text

    def frames(n: int, lo: bool) -> Frames:
        join = json.dumps(["4", "4", topic, "phx_join", {"url": "http://127.0.0.1/board",
                                                           "params": {"_csrf_token": generate_csrf_token(topic)}}])
        events = [(json.dumps(["4", str(i + 5), topic, "event",
                               {"type": "click", "event": "add_card", "value": {},
                                **({"lo": _lo(i)} if lo else {})}]), reply_to(str(i + 5))) for i in range(n)]
        return [(join, reply_to("4")), *events]

    def app(instrumentation: Any = None) -> Any:
        pyview_app = PyView(instrumentation=instrumentation) if instrumentation else PyView()
        pyview_app.add_live_view("/board", BoardLiveView)
        return pyview_app

    return Case("pyview (Phoenix LiveView, observe_phoenix_app)", app(),
                observe_phoenix_app(app(LiveObsInstrumentation())), "/live/websocket",
                b"_csrf_token=x&vsn=2.0.0", frames)


# --- Django Channels: a sync JsonWebsocketConsumer behind Channels' routing and sessions -----------------------------

def channels_case() -> Case:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False, SECRET_KEY="bench-only", ALLOWED_HOSTS=["127.0.0.1"], ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.sessions", "channels"],
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        DATABASES={}, USE_TZ=True, LOGGING_CONFIG=None,
    )
    django.setup()
    from channels.generic.websocket import JsonWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator
    from channels.sessions import SessionMiddlewareStack
    from django.urls import path

    from liveobs.sdk.adapters.channels import LiveObsConsumer, observe_channels_app

    class Board(JsonWebsocketConsumer):  # type: ignore[misc]
        count = 0

        def connect(self) -> None:
            self.accept()

        def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
            self.count += 1
            self.send_json({"cards": [content.get("title"), self.count]})

    class ObservedBoard(LiveObsConsumer, Board):  # type: ignore[misc]
        pass

    def router(consumer: Any) -> Any:
        return ProtocolTypeRouter({"websocket": AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter([
            path("ws/board/", consumer.as_asgi())])))})

    def frames(n: int, lo: bool) -> Frames:
        return [(json.dumps({"event": "add_card", "title": "card", **({"lo": _lo(i)} if lo else {})}), _any)
                for i in range(n)]

    return Case("Django Channels (sync consumer, LiveObsConsumer)", router(Board),
                observe_channels_app(router(ObservedBoard)), "/ws/board/", b"", frames)


# --- python-socketio: engine.io packets and acknowledgements --------------------------------------------------------

def socketio_case() -> Case:
    import socketio

    from liveobs.sdk.adapters.socketio import observe_socketio, observe_socketio_app

    def server() -> Any:
        sio = socketio.AsyncServer(async_mode="asgi")
        count = [0]

        @sio.event
        async def add_card(sid: str, data: dict[str, Any]) -> dict[str, Any]:
            count[0] += 1
            return {"count": count[0], "title": data.get("title")}

        return sio

    def frames(n: int, lo: bool) -> Frames:
        def ack(i: int) -> Callable[[str], bool]:
            prefix = f"43{i}["
            return lambda text: text.startswith(prefix)

        events = [(f"42{i}" + json.dumps(["add_card", {"title": "card", **({"lo": _lo(i)} if lo else {})}]), ack(i))
                  for i in range(n)]
        return [("40", lambda text: text.startswith("40")), *events]

    return Case("python-socketio (observe_socketio)", socketio.ASGIApp(server()),
                observe_socketio_app(socketio.ASGIApp(observe_socketio(server()))), "/socket.io/",
                b"EIO=4&transport=websocket", frames)


# --- NiceGUI: its page, then its own socket.io "event" messages -----------------------------------------------------

async def _get_page(app: Any, path: str) -> str:
    """``GET path`` through ``app`` in process: the page's HTML."""
    body: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "scheme": "http", "http_version": "1.1", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"accept", b"text/html"), COOKIE],
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "asgi": {"version": "3.0"}}
    await app(scope, receive, send)
    return b"".join(body).decode()


def nicegui_case() -> Case:
    import re
    import urllib.parse

    from fastapi import FastAPI
    from nicegui import core, ui
    from nicegui.client import Client

    from liveobs.sdk.adapters.nicegui import NiceGUIObserved, live_events, nicegui_head_tags, record_failure

    @ui.page("/board")
    def board() -> None:
        if liveobs.sdk.current_ids().session_id:  # the page under liveobs
            ui.add_head_html(nicegui_head_tags())
        count = [0]

        def add_card() -> None:
            count[0] += 1

        ui.button("Add card", on_click=add_card)

    handlers = core.sio.handlers["/"]
    plain_handler = handlers["event"]
    observed_handler = live_events(plain_handler)
    core.app.on_exception(record_failure)
    host = FastAPI()
    ui.run_with(host, show_welcome_message=False)  # NiceGUI's run configuration, without starting a server

    async def page(app: Any, n: int, lo: bool) -> tuple[bytes, Frames]:
        handlers["event"] = observed_handler if lo else plain_handler
        found = re.search(r"client_id['\"]: ?['\"]([0-9a-f-]+)", await _get_page(app, "/board"))
        if found is None:
            raise RuntimeError("NiceGUI's page names no client")
        client = Client.instances[found.group(1)]
        core.loop = asyncio.get_running_loop()  # for the task NiceGUI starts at disconnect (cancelled at the end)
        button = next(e for e in client.elements.values() if getattr(e, "_event_listeners", None))
        listener = next(iter(button._event_listeners))
        query = urllib.parse.urlencode({"client_id": client.id, "tab_id": f"tab-{client.id}",
                                        "document_id": f"doc-{client.id}", "implicit_handshake": "true",
                                        "EIO": "4", "transport": "websocket"}).encode()

        def ack(i: int) -> Callable[[str], bool]:
            prefix = f"43{i}["
            return lambda text: text.startswith(prefix)

        message = {"id": button.id, "client_id": client.id, "listener_id": listener, "args": []}
        events = [(f"42{i}" + json.dumps(["event", {**message, **({"lo": _lo(i)} if lo else {})}]), ack(i))
                  for i in range(n)]
        return query, [("40", lambda text: text.startswith("40")), *events]

    return Case("NiceGUI (observe_nicegui)", host, NiceGUIObserved(host), "/_nicegui_ws/socket.io/", b"",
                lambda n, lo: [], page)


CASES: dict[str, Callable[[], Case]] = {
    "core": core_case, "htmx": htmx_case, "pyview": pyview_case, "channels": channels_case, "socketio": socketio_case,
    "nicegui": nicegui_case,
}


def main(n: int, only: Sequence[str]) -> None:
    liveobs.sdk.configure("bench-adapters", "1.0.0", "test", span_exporter=DiscardSpans(), log_exporter=DiscardLogs(),
                          configure_structlog=False, set_global=False)
    try:
        for key in only or CASES:
            case = CASES[key]()
            _cpu(case.plain, case, 50, False)  # warm-up: imports, caches
            _cpu(case.observed, case, 50, True)
            plain: list[float] = []
            observed: list[float] = []
            for _ in range(ROUNDS):
                plain.append(_cpu(case.plain, case, n, False))
                observed.append(_cpu(case.observed, case, n, True))
            without = sorted(plain)[ROUNDS // 2] / n * 1e6
            with_liveobs = sorted(observed)[ROUNDS // 2] / n * 1e6
            print(f"{case.name:50} {without:7.1f} us/event without liveobs, {with_liveobs:7.1f} with: "
                  f"+{with_liveobs - without:5.1f} us/event, x{with_liveobs / without:4.2f} "
                  f"(median of {ROUNDS} rounds of {n} events)", flush=True)
    finally:
        liveobs.sdk.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, sys.argv[2:])
