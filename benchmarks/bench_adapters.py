"""CPU per live event of the framework adapters, against the same ASGI app without liveobs.

Three apps answer one message per event, in process (no sockets, so only the
app and liveobs are measured): a JSON app under ``observe_live_app`` (the
baseline adapter-free path), an htmx-style app sending an HTML fragment under
``observe_htmx_app``, and a Phoenix-protocol app answering ``phx_reply`` under
``observe_phoenix_app``. Each runs with and without liveobs in interleaved
rounds; the median CPU per event is printed (the same machine and run, so
compare the ratios). Spans and log records go through the batch processors to
exporters that discard them. ``python benchmarks/bench_adapters.py [events]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import liveobs.sdk
from liveobs.sdk.adapters.htmx import observe_htmx_app
from liveobs.sdk.adapters.phoenix import observe_phoenix_app

ROUNDS = 5
HEADERS = {"HX-Request": "true", "HX-Trigger": "add", "HX-Trigger-Name": "add_card"}


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
    return {"event_id": f"01a24537-a23d-7{i % 4096:03x}-8f4a-{i:012x}", "event_name": "add_card", "seq": i + 1}


def _serve(answer: Callable[[str], str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": answer(message["text"])})

    return app


def _json_answer(text: str) -> str:
    return json.dumps({"patch": f"<li>{json.loads(text)['title']}</li>"})


def _html_answer(text: str) -> str:
    return f'<ul id="cards" hx-swap-oob="true"><li>{json.loads(text)["title"]}</li></ul>'


def _phx_answer(text: str) -> str:
    frame = json.loads(text)
    return json.dumps([frame[0], frame[1], frame[2], "phx_reply",
                       {"status": "ok", "response": {"diff": {"0": {"0": "card"}}}}])


def _json_messages(n: int, lo: bool) -> list[str]:
    return [json.dumps({"title": "card", "HEADERS": HEADERS, **({"lo": _lo(i)} if lo else {})}) for i in range(n)]


def _phx_messages(n: int, lo: bool) -> list[str]:
    join = json.dumps(["4", "4", "lv:phx-1", "phx_join", {"url": "http://127.0.0.1/board", "params": {}}])
    events = [json.dumps(["4", str(i + 5), "lv:phx-1", "event",
                          {"type": "click", "event": "add_card", "value": {}, **({"lo": _lo(i)} if lo else {})}])
              for i in range(n)]
    return [join, *events]


def _cpu(app: Any, texts: list[str]) -> float:
    incoming = iter([{"type": "websocket.connect"}, *({"type": "websocket.receive", "text": t} for t in texts),
                     {"type": "websocket.disconnect", "code": 1000}])

    async def receive() -> Any:
        return next(incoming)

    async def send(message: Any) -> None:
        return None

    scope = {"type": "websocket", "path": "/ws", "raw_path": b"/ws", "query_string": b"", "scheme": "ws",
             "headers": [(b"host", b"127.0.0.1"), (b"cookie", b"liveobs_sid=bench")],
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "subprotocols": []}
    start = time.process_time()
    asyncio.run(app(scope, receive, send))
    return time.process_time() - start


def main(n: int) -> None:
    liveobs.sdk.configure("bench-adapters", "1.0.0", "test", span_exporter=DiscardSpans(), log_exporter=DiscardLogs(),
                          configure_structlog=False, set_global=False)
    cases = [
        ("lo envelope (observe_live_app)", _serve(_json_answer), _json_messages,
         lambda app: liveobs.sdk.observe_live_app(app, session=liveobs.sdk.cookie_session("liveobs_sid"))),
        ("htmx ws (observe_htmx_app)", _serve(_html_answer), _json_messages, observe_htmx_app),
        ("Phoenix LiveView (observe_phoenix_app)", _serve(_phx_answer), _phx_messages, observe_phoenix_app),
    ]
    try:
        for name, app, messages, observe in cases:
            observed_app = observe(app)
            plain: list[float] = []
            observed: list[float] = []
            for _ in range(ROUNDS):
                plain.append(_cpu(app, messages(n, False)))
                observed.append(_cpu(observed_app, messages(n, True)))
            without = sorted(plain)[ROUNDS // 2] / n * 1e6
            with_liveobs = sorted(observed)[ROUNDS // 2] / n * 1e6
            print(f"{name:40} {without:6.1f} us/event without liveobs, {with_liveobs:6.1f} with "
                  f"(+{with_liveobs - without:.1f} us/event; median of {ROUNDS} rounds of {n} events)")
    finally:
        liveobs.sdk.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
