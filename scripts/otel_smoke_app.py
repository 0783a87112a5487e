"""A live app under liveobs, run once against whichever OpenTelemetry release is installed.

configure() with the batching pipeline and in-memory exporters, a real
uvicorn server on 127.0.0.1, one HTTP request whose handler writes a
structlog line, and one live event whose handler fails. It asserts on what
the exporters and the metric reader received and exits 0 when all is there.
``scripts/otel_matrix.py smoke`` runs it in one environment per release.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import httpx
import structlog
import uvicorn
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect

import liveobs.sdk
from liveobs.conventions import evidence, keys
from liveobs.sdk import _compat, _faults

SECRET = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
EVENT_ID = "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a5b"


class Logs(LogRecordExporter):
    """Keeps every exported log record."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def build_app() -> Any:
    log = structlog.get_logger("board")

    async def page(request: Request) -> Response:
        log.info("page rendered", board=request.path_params["board_id"])
        return HTMLResponse("<html><body>board</body></html>")

    class Live(WebSocketEndpoint):
        encoding = "text"

        @liveobs.sdk.handle_event
        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            log.info("event received")
            if json.loads(data).get("action") == "fail":
                raise LookupError(f"card 42 is gone; token {SECRET}")
            await websocket.send_text(json.dumps({"patch": "<li>card</li>"}))

    app = Starlette(routes=[Route("/board/{board_id}", page), WebSocketRoute("/live", Live)])
    return liveobs.sdk.LiveObsMiddleware(app, session=liveobs.sdk.cookie_session("sid"))


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread, sock


def main() -> int:
    spans, logs, reader, lines = InMemorySpanExporter(), Logs(), InMemoryMetricReader(), io.StringIO()
    telemetry = liveobs.sdk.configure("smoke-app", "1.0.0", "test", span_exporter=spans, log_exporter=logs,
                                      metric_readers=[reader], log_file=lines, set_global=False)
    server, thread, sock = serve(build_app())
    base = f"127.0.0.1:{sock.getsockname()[1]}"
    try:
        page = httpx.get(f"http://{base}/board/7", cookies={"sid": "abc"})
        with connect(f"ws://{base}/live") as ws:
            ws.send(json.dumps({"action": "fail", "lo": {"event_id": EVENT_ID, "event_name": "fail", "seq": 1}}))
            reply = json.loads(ws.recv())
            ws.send(json.dumps({"action": "add", "lo": {"event_id": EVENT_ID[:-1] + "c", "event_name": "add",
                                                        "seq": 2}}))
            after = json.loads(ws.recv())
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    telemetry.force_flush()
    metrics = reader.get_metrics_data()
    liveobs.sdk.shutdown()

    assert page.status_code == 200, page.status_code
    assert reply["lo"]["ok"] is False, reply
    assert reply["lo"]["error_class"] == "LookupError", reply
    assert after["lo"]["ok"] is True, after
    ended = spans.get_finished_spans()
    (failed,) = [s for s in ended if s.name == "live.event fail"]
    assert failed.attributes is not None
    assert failed.attributes[keys.ERROR_TYPE] == "LookupError"
    assert any(e.name == keys.EXCEPTION_EVENT for e in failed.events)
    (record,) = [r for r in logs.records if r.log_record.body == "page rendered"]
    request_span = [s for s in ended if s.context is not None and s.context.trace_id == record.log_record.trace_id]
    assert request_span, "the log record carries the request span's trace id"
    line = json.loads(next(x for x in lines.getvalue().splitlines() if "page rendered" in x))
    assert line[keys.LOG_TRACE_ID] == f"{record.log_record.trace_id:032x}"
    received = [r for r in logs.records if r.log_record.body == "event received"]
    assert failed.context is not None
    assert failed.context.trace_id in {r.log_record.trace_id for r in received}
    exported = str([(s.name, dict(s.attributes or {}), [dict(e.attributes or {}) for e in s.events]) for s in ended])
    exported += str([(r.log_record.body, dict(r.log_record.attributes or {})) for r in logs.records])
    assert SECRET not in exported, "a secret reached an exporter"
    assert SECRET not in lines.getvalue(), "a secret reached the log file"
    names = {m.name for rm in metrics.resource_metrics for sm in rm.scope_metrics for m in sm.metrics} \
        if metrics is not None else set()
    assert evidence.METRIC_EVENT_DURATION in names, names
    assert telemetry.drops.counts() == {"spans": 0, "logs": 0}, telemetry.drops.counts()
    assert _faults.fault_counts() == {}, _faults.fault_counts()
    missing = [name for name, present in vars_of(_compat.features()).items() if not present]
    print(f"ok: opentelemetry-sdk {version('opentelemetry-sdk')}, structlog {version('structlog')}: "
          f"{len(ended)} spans, {len(logs.records)} log records; internals not used here: {missing or 'none'}")
    return 0


def vars_of(found: _compat.Features) -> dict[str, bool]:
    return {name: getattr(found, name) for name in found.__slots__}


if __name__ == "__main__":
    sys.exit(main())
