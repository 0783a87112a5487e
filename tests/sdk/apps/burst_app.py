"""A small live app run as a real uvicorn process by the process-life tests: one socket loop, one HTTP route.

``LIVEOBS_TEST_ENDPOINT`` is the collector it exports to. With ``LIVEOBS_TEST_FASTAPI=inside`` the app is
a FastAPI app (whose own telemetry is on) with the middleware added inside it, with ``=outside`` the
middleware wraps the FastAPI app; with ``LIVEOBS_TEST_ASGI_OTEL=1`` it is also wrapped in
opentelemetry-instrumentation-asgi. The event ``boom`` raises.
"""



import os
from typing import Any

import structlog

import liveobs.sdk

if os.environ.get("LIVEOBS_TEST_EXISTING"):  # the app's own OpenTelemetry setup, made before liveobs's
    import json
    from collections.abc import Sequence

    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class FileExporter(SpanExporter):
        def __init__(self, path: str) -> None:
            self.out = open(path, "a")  # noqa: SIM115  # the process's whole life

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            for span in spans:
                self.out.write(json.dumps({"name": span.name, "attributes": dict(span.attributes or {}),
                                           "service": span.resource.attributes.get("service.name")}) + "\n")
            self.out.flush()
            return SpanExportResult.SUCCESS

    own = TracerProvider(resource=Resource.create({"service.name": "the-apps-own-name"}))
    own.add_span_processor(SimpleSpanProcessor(FileExporter(os.environ["LIVEOBS_TEST_EXISTING"])))
    trace.set_tracer_provider(own)

liveobs.sdk.configure("burst-app", "1.0.0", "test", endpoint=os.environ["LIVEOBS_TEST_ENDPOINT"],
                      log_file=open(os.devnull, "w"))  # noqa: SIM115  # the process's whole life
_log = structlog.get_logger("burst")


async def handle(data: dict[str, Any]) -> dict[str, Any]:
    name = (data.get("lo") or {}).get("event_name")
    _log.info("handled", n=data.get("n"))
    if name == "boom":
        raise TypeError("'<' not supported between instances of 'str' and 'int'")
    return {"n": data.get("n")}


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def page(request: Any) -> PlainTextResponse:
        _log.info("page")
        return PlainTextResponse(liveobs.sdk.head_tags())

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_json(await handle(await ws.receive_json()))
        except WebSocketDisconnect:
            return

    return Starlette(routes=[Route("/board", page), WebSocketRoute("/ws", socket)])


def fastapi_app() -> Any:
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect
    from fastapi.responses import PlainTextResponse

    api = FastAPI()

    @api.get("/board")
    async def page() -> PlainTextResponse:
        _log.info("page")
        return PlainTextResponse(liveobs.sdk.head_tags())

    @api.get("/crash")
    async def crash() -> dict[str, Any]:
        return await handle({"lo": {"event_name": "boom"}})  # the same crash as the live event's

    @api.websocket("/ws")
    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_json(await handle(await ws.receive_json()))
        except WebSocketDisconnect:
            return

    return api


app: Any
if os.environ.get("LIVEOBS_TEST_FASTAPI") == "inside":  # FastAPI's own spans enclose its middleware stack
    app = fastapi_app()
    app.add_middleware(liveobs.sdk.LiveObsMiddleware)
elif os.environ.get("LIVEOBS_TEST_FASTAPI") == "outside":  # the middleware around the whole FastAPI app
    app = liveobs.sdk.LiveObsMiddleware(fastapi_app())
else:
    app = liveobs.sdk.LiveObsMiddleware(starlette_app())
if os.environ.get("LIVEOBS_TEST_ASGI_OTEL") == "1":
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    app = OpenTelemetryMiddleware(app)
