"""Fault injection in liveobs's own parts: the middleware, the live event wrapper and configure().

Every request and live event of the app still succeeds; the failure is counted and warned about once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.sync.client import connect

import liveobs.sdk
from liveobs.sdk import _faults


class Raising(SpanProcessor):
    """A processor that breaks on every span: what a changed internal or a buggy add-on does."""

    def __init__(self, where: str) -> None:
        self.where = where

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.where == "start":
            raise RuntimeError("processor broke at start")

    def on_end(self, span: Any) -> None:
        if self.where == "end":
            raise RuntimeError("processor broke at end")


@pytest.fixture
def counted(caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    _faults.reset_faults()  # each place warns again on its first failure in this test
    caplog.set_level(logging.WARNING, logger="liveobs.sdk")
    yield _faults.fault_counts
    _faults.reset_faults()


@pytest.mark.parametrize("where", ["start", "end"])
def test_a_raising_span_processor_breaks_no_request_and_no_live_event(
    configured: Any, serve: Any, build_app: Any, envelope: Any, counted: Any, caplog: Any, where: str,
) -> None:
    configured.telemetry.tracer_provider.add_span_processor(Raising(where))
    server = serve(build_app())
    for _ in range(3):
        page = httpx.get(f"{server.http}/board/7", cookies={"sid": "abc"}, timeout=10)
        assert page.status_code == 200
        assert "board" in page.text
    with connect(f"{server.ws}/live", additional_headers={"Cookie": "sid=abc"}) as ws:
        for seq in range(3):
            ws.send(envelope("add_card", f"ev-{where}-{seq}", seq))
            reply = json.loads(ws.recv(timeout=10))
            assert reply["patch"].startswith("<li")
    faults = counted()
    assert faults, "the failures were not counted"
    assert sum(faults.values()) >= 4  # each request, and each event or else the connection as a whole
    warned = [r for r in caplog.records if r.name == "liveobs.sdk" and "the app goes on" in r.getMessage()]
    assert len(warned) == len(faults)  # once per place, however often it failed


def test_live_event_goes_on_when_its_span_cannot_start(configured: Any, counted: Any) -> None:
    configured.telemetry.tracer_provider.add_span_processor(Raising("start"))
    with liveobs.sdk.live_event("add_card") as event:
        handled = True
    assert handled
    assert event.event_id
    # Counted once, by whichever layer caught it (the lean span path, or the live event wrapper).
    assert sum(counted().values()) == 1
    assert set(counted()) <= {"span_processor", "live_event start"}


def test_configure_with_a_broken_exporter_setting_runs_on_without_export(
    monkeypatch: pytest.MonkeyPatch, counted: Any, caplog: Any,
) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "-5")  # the batch processor refuses it
    try:
        telemetry = liveobs.sdk.configure("broken", span_exporter=InMemorySpanExporter(), configure_structlog=False,
                                          set_global=False, shutdown_timeout=0.5)
        with liveobs.sdk.live_event("add_card") as event:
            pass
        assert event.event_id
        assert telemetry is liveobs.sdk.current_telemetry()
    finally:
        liveobs.sdk.shutdown()
    assert counted() == {"configure": 1}
    assert any("max_queue_size" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"service_name": ""}, "service_name"),
    ({"service_name": "ok", "endpoint": "collector:4318"}, "endpoint"),
    ({"service_name": "ok", "shutdown_timeout": 0}, "shutdown_timeout"),
])
def test_configure_with_plainly_invalid_arguments_is_a_clear_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        liveobs.sdk.configure(**kwargs, configure_structlog=False, set_global=False)
    assert liveobs.sdk.current_telemetry() is None


def test_a_live_event_ended_in_another_task_logs_no_detach_error(
    configured: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    """Django Channels receives in one task and handles in another: the event still ends, quietly."""
    import asyncio

    from liveobs.sdk._context import LiveIds
    from liveobs.sdk._live import EventRecorder

    caplog.set_level(logging.DEBUG)

    async def main() -> EventRecorder:
        started: asyncio.Future[EventRecorder] = asyncio.get_running_loop().create_future()

        async def receiving() -> None:
            ids = LiveIds(event_id="ev-1")
            recorder = EventRecorder(configured.telemetry, ids, "add", dict(ids.attributes))
            started.set_result(recorder.start(None, False, None))

        async def handling() -> None:
            (await started).finish()

        await asyncio.gather(asyncio.create_task(receiving()), asyncio.create_task(handling()))
        return await started

    recorder = asyncio.run(main())
    assert not recorder.span.is_recording()
    assert not [r for r in caplog.records if "detach" in r.getMessage().lower()]
    assert configured.receiver.spans_named("live.event add")[0]["attributes"]["liveobs.event.id"] == "ev-1"


def test_an_event_in_flight_is_never_forgotten_however_many_others_never_finish(configured: Any) -> None:
    import contextvars

    from liveobs.sdk._context import LiveIds
    from liveobs.sdk._live import EventRecorder, current_event

    def start(event_id: str) -> EventRecorder:
        ids = LiveIds(event_id=event_id)
        return EventRecorder(configured.telemetry, ids, "tick", dict(ids.attributes)).start(None, False, None)

    mine = contextvars.copy_context()
    recorder = mine.run(start, "ev-mine")
    for i in range(70_000):  # more than any bounded registry held: started, never finished
        contextvars.copy_context().run(start, f"ev-{i}")
    assert mine.run(current_event) is recorder
    assert mine.run(lambda: liveobs.sdk.error_reply(KeyError("card"))["lo"]["event_id"]) == "ev-mine"
