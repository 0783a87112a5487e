"""The SDK's own endpoints name their route on the server span, like the app's routes do."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import liveobs.sdk
from liveobs.conventions import keys
from liveobs.sdk._evidence_asgi import observe_live_app

RING = liveobs.sdk.SessionKeyRing({"k1": "own-routes-test-session-key-0123456789"})
ITEM = {"type": "browser.error", "event_id": "0190f5c2-7a1b-7c3d-8e4f-a1b2c3d4e5f6", "event_name": "add_card",
          "error_kind": "reply_error", "error_class": "LookupError", "error_code": "internal", "latency_ms": 31.5,
          "seq": 4, "connection_id": "c0ffee", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
          "span_id": "00f067aa0ba902b7"}
REPORT = {"session_id": RING.pseudonymise("raw-cookie"), "route_id": "/board/{board_id}", "request_id": "req-1",
          "dropped": 0, "reports": [ITEM]}


def _app() -> Starlette:
    async def page(request: Request) -> Response:
        return PlainTextResponse("board")

    return Starlette(routes=[Route("/board/{board_id}", page)])


def _serve(serve: Any, **options: Any) -> str:
    health = liveobs.sdk.Health(version="1.4.2")
    return str(serve(observe_live_app(_app(), session=liveobs.sdk.cookie_session("sid"), session_keys=RING,
                                      health=health, **options)).http)


def _exercise(base: str) -> None:
    assert httpx.get(f"{base}{liveobs.sdk.ASSET_PATH}?v=1").status_code == 200
    assert httpx.post(f"{base}{liveobs.sdk.ASSET_PATH}").status_code == 405
    headers = {"Origin": base, "Cookie": "sid=raw-cookie", "Content-Type": "application/json"}
    assert httpx.post(f"{base}{liveobs.sdk.REPORT_PATH}", content=json.dumps(REPORT), headers=headers).status_code == 202
    refused = {**headers, "Origin": "https://evil.example"}
    assert httpx.post(f"{base}{liveobs.sdk.REPORT_PATH}", content=json.dumps(REPORT), headers=refused).status_code == 403
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert httpx.get(f"{base}/board/7").status_code == 200


def _by_path(configured: Any) -> dict[str, list[dict[str, Any]]]:
    configured.receiver.spans_named("GET /board/", count=1)
    spans: dict[str, list[dict[str, Any]]] = {}
    for span in configured.receiver.spans_named("", count=5):
        if span["kind"] == 2:  # SERVER
            spans.setdefault(span["attributes"][keys.URL_PATH], []).append(span)
    return spans


def test_the_asset_and_report_spans_carry_their_templates_as_route_id_and_http_route(
    configured: Any, serve: Any
) -> None:
    _exercise(_serve(serve))
    spans = _by_path(configured)
    assert sorted(s["name"] for s in spans[liveobs.sdk.ASSET_PATH]) == [
        f"GET {liveobs.sdk.ASSET_PATH}", f"POST {liveobs.sdk.ASSET_PATH}"]
    assert sorted(s["name"] for s in spans[liveobs.sdk.REPORT_PATH]) == [f"POST {liveobs.sdk.REPORT_PATH}"] * 2
    for template in (liveobs.sdk.ASSET_PATH, liveobs.sdk.REPORT_PATH):
        for span in spans[template]:
            assert span["attributes"][keys.HTTP_ROUTE] == template
            assert span["attributes"][keys.ROUTE_ID] == template
    # health is answered before any span starts; every server span names its route
    assert "/readyz" not in spans
    assert all(s["attributes"].get(keys.ROUTE_ID) for group in spans.values() for s in group)
    assert spans["/board/7"][0]["attributes"][keys.HTTP_ROUTE] == "/board/{board_id}"


def test_an_app_route_id_mapping_does_not_unname_the_sdk_routes(configured: Any, serve: Any) -> None:
    def route_id(scope: Mapping[str, Any]) -> str | None:
        route = scope.get("route")
        return "board.show" if getattr(route, "path", None) == "/board/{board_id}" else None

    _exercise(_serve(serve, route_id=route_id))
    spans = _by_path(configured)
    assert spans["/board/7"][0]["attributes"][keys.ROUTE_ID] == "board.show"
    for template in (liveobs.sdk.ASSET_PATH, liveobs.sdk.REPORT_PATH):
        assert {s["attributes"][keys.ROUTE_ID] for s in spans[template]} == {template}
