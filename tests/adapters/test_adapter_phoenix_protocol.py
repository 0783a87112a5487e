"""The Phoenix protocol half without a browser: a small server of the protocol under ``observe_phoenix_app``.

Real OpenTelemetry SDK spans in memory; the ASGI messages are driven by hand, as a server would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import liveobs.sdk
from liveobs.conventions import keys
from liveobs.sdk.adapters.phoenix import CLOSE_HANDLER_FAILED, observe_phoenix_app

JOIN = json.dumps(["4", "4", "lv:phx-1", "phx_join", {"url": "http://127.0.0.1/board?x=1", "params": {}}])
LO = {"event_id": "01a24537-a23d-76d8-8f4a-0442a7ac8da8", "event_name": "sort", "seq": 1}


def event(name: str, ref: str, lo: dict[str, Any] | None = LO) -> str:
    payload: dict[str, Any] = {"type": "click", "event": name, "value": {}}
    if lo is not None:
        payload["lo"] = lo
    return json.dumps(["4", ref, "lv:phx-1", "event", payload])


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    liveobs.sdk.configure("phx", "1.0.0", "test", span_exporter=exporter, batch=False, configure_structlog=False,
                          set_global=False)
    try:
        yield exporter
    finally:
        liveobs.sdk.shutdown()


Handler = Callable[[list[Any], Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


def protocol_server(on_event: Handler) -> Any:
    """A minimal server of the protocol: answers the join, hands each event frame to ``on_event``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = json.loads(message["text"])
            if frame[3] == "phx_join":
                await send({"type": "websocket.send", "text": json.dumps(
                    [frame[0], frame[1], frame[2], "phx_reply", {"status": "ok", "response": {"rendered": {}}}])})
            else:
                await on_event(frame, send)

    return app


def drive(app: Any, *texts: str) -> list[dict[str, Any]]:
    """Connect, send ``texts`` one by one, disconnect; the messages the app sent."""
    incoming: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    incoming += [{"type": "websocket.receive", "text": text} for text in texts]
    incoming.append({"type": "websocket.disconnect", "code": 1000})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/live/websocket", "raw_path": b"/live/websocket", "query_string": b"vsn=2.0.0",
             "headers": [(b"host", b"127.0.0.1")], "scheme": "ws", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 5000), "subprotocols": []}
    asyncio.run(observe_phoenix_app(app)(scope, receive, send))
    return sent


def frames(sent: list[dict[str, Any]]) -> list[list[Any]]:
    return [json.loads(m["text"]) for m in sent if m["type"] == "websocket.send"]


def event_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("live.event")]


def test_an_event_and_its_ok_reply_are_one_live_event_with_the_lo_reply(spans: InMemorySpanExporter) -> None:
    async def on_event(frame: list[Any], send: Any) -> None:
        await send({"type": "websocket.send", "text": json.dumps(
            [frame[0], frame[1], frame[2], "phx_reply", {"status": "ok", "response": {"diff": {"0": "x"}}}])})

    replies = frames(drive(protocol_server(on_event), JOIN, event("sort", "5"), event("add", "6", lo=None)))
    assert [r[1] for r in replies] == ["4", "5", "6"]
    lo = replies[1][4]["response"]["lo"]
    assert lo["event_id"] == LO["event_id"]
    assert lo["ok"] is True
    assert replies[1][4]["response"]["diff"] == {"0": "x"}
    assert "lo" not in replies[2][4]["response"]  # a push without the envelope is left alone
    (span,) = event_spans(spans)
    assert span.name == "live.event sort"
    assert span.attributes is not None
    assert span.attributes[keys.EVENT_ID] == LO["event_id"]
    assert span.attributes[keys.ROUTE_ID] == "/board"
    assert lo["trace_id"] == format(span.context.trace_id, "032x")


def test_an_error_reply_is_a_failed_event(spans: InMemorySpanExporter) -> None:
    async def on_event(frame: list[Any], send: Any) -> None:
        await send({"type": "websocket.send", "text": json.dumps(
            [frame[0], frame[1], frame[2], "phx_reply", {"status": "error", "response": {"reason": "nope"}}])})

    replies = frames(drive(protocol_server(on_event), JOIN, event("sort", "5")))
    lo = replies[1][4]["response"]["lo"]
    assert lo["ok"] is False
    assert lo["error_class"] == "liveobs.sdk.adapters.phoenix.PhoenixReplyError"
    (span,) = event_spans(spans)
    assert span.attributes is not None
    assert span.attributes[keys.ERROR_TYPE] == "liveobs.sdk.adapters.phoenix.PhoenixReplyError"


def test_a_crash_is_answered_as_an_error_reply_then_a_4500_close(spans: InMemorySpanExporter) -> None:
    async def on_event(frame: list[Any], send: Any) -> None:
        await send({"type": "websocket.close", "code": 1000})  # held: the error reply goes out first
        [None, None].sort(key=lambda v: v)  # type: ignore[call-overload]

    sent = drive(protocol_server(on_event), JOIN, event("sort", "5"))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.send", "websocket.close"]
    reply = frames(sent)[1]
    assert reply[:4] == ["4", "5", "lv:phx-1", "phx_reply"]
    assert reply[4]["status"] == "error"
    assert reply[4]["response"]["lo"]["error_class"] == "TypeError"
    assert sent[-1]["code"] == 1000
    (span,) = event_spans(spans)
    assert span.attributes is not None
    assert span.attributes[keys.ERROR_TYPE] == "TypeError"
    connection = [s for s in spans.get_finished_spans() if s.name == "live.connection"]
    assert len(connection) == 1
    assert not [e for e in connection[0].events if e.name == "exception"]  # recorded once, on the event


def test_a_crash_without_a_close_closes_with_4500(spans: InMemorySpanExporter) -> None:
    async def on_event(frame: list[Any], send: Any) -> None:
        raise LookupError("card 42 is gone")

    sent = drive(protocol_server(on_event), JOIN, event("sort", "5"))
    assert sent[-1] == {"type": "websocket.close", "code": CLOSE_HANDLER_FAILED}


def test_a_crash_outside_an_event_is_not_swallowed(spans: InMemorySpanExporter) -> None:
    async def on_event(frame: list[Any], send: Any) -> None:
        raise LookupError("card 42 is gone")

    with pytest.raises(LookupError):
        drive(protocol_server(on_event), JOIN, event("sort", "5", lo=None))
