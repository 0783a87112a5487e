"""liveobs with other instrumentations in a real app: FastAPI's own OpenTelemetry spans and
opentelemetry-instrumentation-asgi, exporting to a real ``liveobs collect``, read back with the CLI.

FastAPI's own spans start from the request's headers alone (``propagate.extract``): the middleware puts its
own span's ``traceparent`` there, so they join liveobs's trace wherever the middleware sits."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.sdk.process_helpers import app_process, collector, envelope

ID_KEYS = ("liveobs.request.id", "liveobs.connection.id")


def _trace(store: Any, *args: str) -> dict[str, Any]:
    shown = store.liveobs("trace", *args, "--json")
    assert shown.returncode == 0, shown.stderr + shown.stdout
    result: dict[str, Any] = json.loads(shown.stdout)
    return result


@pytest.mark.timeout(180)
@pytest.mark.parametrize("framework", [
    {"LIVEOBS_TEST_FASTAPI": "inside"}, {"LIVEOBS_TEST_FASTAPI": "outside"}, {"LIVEOBS_TEST_ASGI_OTEL": "1"},
], ids=["fastapi-add-middleware", "fastapi-wrapped", "opentelemetry-instrumentation-asgi"])
def test_other_instrumentations_spans_join_each_event_and_request_trace_with_the_ids_and_one_crash_is_one_incident(
    tmp_path: Path, framework: dict[str, str],
) -> None:
    with collector(tmp_path) as store, app_process(tmp_path, store.url, **framework) as app:
        page = httpx.get(app.url + "/board", timeout=10)
        request_id = page.headers["x-request-id"]
        if "LIVEOBS_TEST_FASTAPI" in framework:
            assert httpx.get(app.url + "/crash", timeout=10).status_code == 500

        async def live() -> tuple[dict[str, Any], dict[str, Any], str, str]:
            async with websockets.connect(app.ws) as ws:
                tick = envelope(1)
                await ws.send(json.dumps(tick))
                replied = json.loads(await ws.recv())
                boom = envelope(2, "boom")
                await ws.send(json.dumps(boom))
                failed = json.loads(await ws.recv())
                return replied, failed, tick["lo"]["event_id"], boom["lo"]["event_id"]

        replied, failed, tick_id, boom_id = asyncio.run(live())
        assert replied["lo"]["ok"] is True
        assert failed["lo"]["ok"] is False
        app.proc.send_signal(signal.SIGTERM)
        app.proc.wait(30)

        tick = _trace(store, "--event-id", tick_id)
        names = {s["name"] for s in tick["spans"]}
        assert "live.event tick" in names
        assert all(s["attributes"].get("liveobs.event.id") == tick_id for s in tick["spans"]), tick["spans"]

        request = _trace(store, "--request-id", request_id)
        scopes = {s["name"] for s in request["spans"]}
        assert len(request["spans"]) >= 2, scopes  # FastAPI's or the ASGI instrumentation's, and liveobs's
        assert all(s["attributes"].get("liveobs.request.id") == request_id for s in request["spans"]), request["spans"]

        boom = _trace(store, "--event-id", boom_id)
        assert boom["error_class"] == "TypeError"
        incidents = store.liveobs("incidents", "--json")
        assert incidents.returncode == 0, incidents.stderr
        found = [i for i in json.loads(incidents.stdout) if i["error_class"] == "TypeError"]
    # The live event's crash (and over FastAPI the same crash in an HTTP request), with every span and log
    # record of other instrumentations that saw it: one incident.
    assert len(found) == 1, found


@pytest.mark.timeout(120)
def test_beside_an_existing_setup_liveobs_joins_the_apps_provider_and_leaves_its_exporters_their_spans(
    tmp_path: Path,
) -> None:
    own = tmp_path / "own-spans.jsonl"
    with collector(tmp_path) as store, app_process(tmp_path, store.url, LIVEOBS_TEST_EXISTING=str(own),
                                                   LIVEOBS_TEST_ASGI_OTEL="1") as app:
        request_id = httpx.get(app.url + "/board", timeout=10).headers["x-request-id"]

        async def live() -> str:
            async with websockets.connect(app.ws) as ws:
                tick = envelope(1)
                await ws.send(json.dumps(tick))
                await ws.recv()
                event_id: str = tick["lo"]["event_id"]
                return event_id

        event_id = asyncio.run(live())
        app.proc.send_signal(signal.SIGTERM)
        app.proc.wait(30)
        assert app.proc.returncode is not None

        request = _trace(store, "--request-id", request_id)
        assert len(request["spans"]) >= 2
        assert all(s["attributes"].get("liveobs.request.id") == request_id for s in request["spans"])
        assert request["service"] == "burst-app"  # liveobs's export carries liveobs's resource
        tick = _trace(store, "--event-id", event_id)
        assert [s["name"] for s in tick["spans"] if s["name"].startswith("live.")] == ["live.event tick"]
    # The app's own exporter still gets every span, liveobs's included, under the app's own resource.
    seen = [json.loads(line) for line in own.read_text().splitlines()]
    names = {s["name"] for s in seen}
    assert {"live.event tick", "live.connection", "GET /board"} <= names, names
    assert {s["service"] for s in seen} == {"the-apps-own-name"}
    ticks = [s for s in seen if s["name"] == "live.event tick"]
    assert ticks[0]["attributes"]["liveobs.event.id"] == event_id


@pytest.mark.timeout(120)
def test_under_opentelemetry_instrument_liveobs_joins_the_auto_configured_providers(tmp_path: Path) -> None:
    env = {"LIVEOBS_TEST_FASTAPI": "inside", "OTEL_SERVICE_NAME": "auto-app", "OTEL_TRACES_EXPORTER": "console",
           "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    with collector(tmp_path) as store, app_process(tmp_path, store.url, instrument=True, **env) as app:
        request_id = httpx.get(app.url + "/board", timeout=10).headers["x-request-id"]

        async def live() -> str:
            async with websockets.connect(app.ws) as ws:
                tick = envelope(1)
                await ws.send(json.dumps(tick))
                await ws.recv()
                event_id: str = tick["lo"]["event_id"]
                return event_id

        event_id = asyncio.run(live())
        app.proc.send_signal(signal.SIGTERM)
        app.proc.wait(30)
        request = _trace(store, "--request-id", request_id)
        assert {s["name"] for s in request["spans"]} >= {"GET /board", "fastapi.endpoint"}
        assert all(s["attributes"].get("liveobs.request.id") == request_id for s in request["spans"])
        assert request["service"] == "burst-app"
        assert _trace(store, "--event-id", event_id)["spans"][0]["attributes"]["liveobs.event.id"] == event_id
    console = app.log.read_text()  # the auto-configured console exporter: every span, under the app's name
    assert '"name": "live.event tick"' in console
    assert event_id in console
    assert '"service.name": "auto-app"' in console
