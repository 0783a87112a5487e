"""WebSocket live events through the real middleware under uvicorn, exported over OTLP/HTTP."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from liveobs.conventions import evidence, keys

EVENT_1 = "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a5b"
EVENT_2 = "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a5c"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_each_live_event_is_its_own_trace_with_every_id(configured: Any, serve: Any, build_app: Any, envelope: Any) -> None:
    server = serve(build_app())
    with connect(f"{server.ws}/live", additional_headers={"Cookie": "sid=abc"}) as ws:
        ws.send(envelope("add_card", EVENT_1, 1, connection_id="conn-browser-1"))
        first = json.loads(ws.recv())
        ws.send(envelope("move_card", EVENT_2, 2))
        second = json.loads(ws.recv())
    events = configured.receiver.spans_named("live.event", count=2)
    (connection,) = configured.receiver.spans_named("live.connection")
    by_id = {s["attributes"][keys.EVENT_ID]: s for s in events}
    assert set(by_id) == {EVENT_1, EVENT_2}
    span = by_id[EVENT_1]
    assert span["name"] == "live.event add_card"
    attrs = span["attributes"]
    assert attrs[keys.EVENT_NAME] == "add_card"
    assert attrs[keys.EVENT_SEQ] == 1
    assert attrs[keys.ROUTE_ID] == "/board/{board_id}"
    assert attrs[keys.CONNECTION_ID] == "conn-browser-1"
    assert re.fullmatch(r"eph\.[0-9a-f]{32}", attrs[keys.SESSION_ID])
    assert attrs[keys.SESSION_ID] == connection["attributes"][keys.SESSION_ID]
    assert attrs[keys.PATCH_BYTES] > attrs[keys.PATCH_COMPRESSED_BYTES] > 0
    # a new trace per event, linked to the connection span
    assert span["trace_id"] != by_id[EVENT_2]["trace_id"] != connection["trace_id"]
    assert span["links"][0]["span_id"] == connection["span_id"]
    assert [e["name"] for e in connection["events"]] == ["websocket.connect", "websocket.close"]
    assert connection["kind"] == 1  # INTERNAL: the connection is not a latency signal
    # the reply echoes the ids and carries the app payload unchanged
    assert first["lo"]["event_id"] == EVENT_1
    assert first["lo"]["ok"] is True
    assert first["lo"]["trace_id"] == span["trace_id"]
    assert first["lo"]["span_id"] == span["span_id"]
    assert first["lo"]["patch_bytes"] == attrs[keys.PATCH_BYTES]
    assert first["patch"].startswith("<li class='card'>")
    assert second["lo"]["event_id"] == EVENT_2
    # the handler's log line carries the event's ids and trace context
    records = configured.receiver.logs_with("event handled", count=2)
    (record,) = [r for r in records if r["attributes"][keys.EVENT_ID] == EVENT_1]
    assert record["trace_id"] == span["trace_id"]
    assert record["span_id"] == span["span_id"]
    for key in (keys.SESSION_ID, keys.ROUTE_ID, keys.CONNECTION_ID, keys.REQUEST_ID):
        assert record["attributes"][key] == (attrs[key] if key in attrs else connection["attributes"][key])


def test_a_failing_event_replies_with_the_class_only_and_records_the_exception(
    configured: Any, serve: Any, build_app: Any, envelope: Any
) -> None:
    server = serve(build_app())
    with connect(f"{server.ws}/live") as ws:
        ws.send(envelope("fail", EVENT_1, 1))
        reply = json.loads(ws.recv())
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    assert reply == {"lo": {
        "event_id": EVENT_1, "ok": False, "error_class": "LookupError", "error_code": "internal",
        "trace_id": reply["lo"]["trace_id"], "span_id": reply["lo"]["span_id"], "server_time": reply["lo"]["server_time"],
    }}
    (span,) = configured.receiver.spans_named("live.event fail")
    assert span["attributes"][keys.ERROR_TYPE] == "LookupError"
    assert span["attributes"][evidence.ERROR_REPLY_FIELDS] == ",".join(sorted(reply["lo"]))
    assert span["attributes"][evidence.ERROR_REPLY_FIELDS] == (
        "error_class,error_code,event_id,ok,server_time,span_id,trace_id")
    (event,) = [e for e in span["events"] if e["name"] == keys.EXCEPTION_EVENT]
    assert event["attributes"][keys.ERROR_TYPE] == "LookupError"
    assert event["attributes"][keys.ERROR_FINGERPRINT] == span["attributes"][keys.ERROR_FINGERPRINT]
    assert re.fullmatch(r"[0-9a-f]{16}", event["attributes"][keys.ERROR_FINGERPRINT])
    assert "card 42 is gone" in event["attributes"][keys.EXCEPTION_MESSAGE]
    assert "ghp_" not in configured.receiver.all_bytes().decode("latin-1")
    (log,) = configured.receiver.logs_with("live event failed")
    assert log["attributes"][keys.EVENT_ID] == EVENT_1
    assert log["trace_id"] == span["trace_id"]


def test_handle_event_keeps_the_connection_after_an_error(configured: Any, serve: Any, build_app: Any, envelope: Any) -> None:
    server = serve(build_app())
    with connect(f"{server.ws}/live-safe") as ws:
        ws.send(envelope("fail", EVENT_1, 1))
        failed = json.loads(ws.recv())
        ws.send(envelope("add_card", EVENT_2, 2))
        ok = json.loads(ws.recv())
    assert failed["lo"]["ok"] is False
    assert failed["lo"]["error_class"] == "LookupError"
    assert set(failed) == {"lo"}
    assert ok["lo"]["ok"] is True
    assert ok["lo"]["event_id"] == EVENT_2
    (span,) = configured.receiver.spans_named("live.event fail")
    assert span["attributes"][keys.ERROR_TYPE] == "LookupError"
    assert span["attributes"][evidence.ERROR_REPLY_FIELDS] == ",".join(sorted(failed["lo"]))
    (answered,) = configured.receiver.spans_named("live.event add_card")
    assert evidence.ERROR_REPLY_FIELDS not in answered["attributes"]


def test_an_error_reply_the_app_writes_itself_is_recorded_as_sent(configured: Any, serve: Any, envelope: Any) -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    import liveobs.sdk

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        message = json.loads(await websocket.receive_text())
        lo = {"event_id": message["lo"]["event_id"], "ok": False, "error_code": "gone", "message": "card 42 is gone"}
        await websocket.send_text(json.dumps({"lo": lo}))
        await websocket.close()

    server = serve(liveobs.sdk.LiveObsMiddleware(Starlette(routes=[WebSocketRoute("/live", live)])))
    with connect(f"{server.ws}/live") as ws:
        ws.send(envelope("delete_card", EVENT_1, 1))
        sent = json.loads(ws.recv())
    (span,) = configured.receiver.spans_named("live.event delete_card")
    assert span["attributes"][evidence.ERROR_REPLY_FIELDS] == ",".join(sorted(sent["lo"]))
    assert span["attributes"][evidence.ERROR_REPLY_FIELDS] == "error_code,event_id,message,ok"


def test_ids_survive_thread_pool_and_tasks_inside_an_event(configured: Any, serve: Any, build_app: Any, envelope: Any) -> None:
    server = serve(build_app())
    with connect(f"{server.ws}/live") as ws:
        ws.send(envelope("boundaries", EVENT_1, 1))
        seen = json.loads(ws.recv())["seen"]
    (span,) = configured.receiver.spans_named("live.event boundaries")
    for where, ids in seen.items():
        assert ids["event_id"] == EVENT_1, where
        assert ids["trace_id"] == span["trace_id"], where
        assert ids["vetted"] is True, where  # the middleware checked the ids: log lines take them as they are


def test_a_trusted_client_traceparent_parents_the_event(configured: Any, serve: Any, build_app: Any, envelope: Any) -> None:
    server = serve(build_app(trust_traceparent=True))
    with connect(f"{server.ws}/live") as ws:
        ws.send(envelope("add_card", EVENT_1, 1, traceparent=f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"))
        ws.recv()
    (span,) = configured.receiver.spans_named("live.event")
    assert span["trace_id"] == CLIENT_TRACE
    assert span["parent_span_id"] == "00f067aa0ba902b7"


def test_an_untrusted_client_traceparent_is_only_linked(configured: Any, serve: Any, build_app: Any, envelope: Any) -> None:
    server = serve(build_app())
    with connect(f"{server.ws}/live") as ws:
        ws.send(envelope("add_card", EVENT_1, 1, traceparent=f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"))
        ws.recv()
    (span,) = configured.receiver.spans_named("live.event")
    assert span["trace_id"] != CLIENT_TRACE
    assert span["parent_span_id"] == ""
    assert CLIENT_TRACE in [link["trace_id"] for link in span["links"]]


@pytest.mark.parametrize("named_in", ["envelope", "url", "nowhere"])
def test_a_reconnect_names_the_connection_the_previous_spans_carried(
    configured: Any, serve: Any, build_app: Any, envelope: Any, named_in: str
) -> None:
    server = serve(build_app())
    for n, event_id in enumerate((EVENT_1, EVENT_2)):
        browser_id = f"conn-browser-{n}"
        url = f"{server.ws}/live" + (f"?lo_cid={browser_id}" if named_in == "url" else "")
        lo = {"connection_id": browser_id} if named_in != "nowhere" else {}
        with connect(url, additional_headers={"Cookie": "sid=abc"}) as ws:
            ws.send(envelope("add_card", event_id, 1, **lo))
            ws.recv()
    first, second = configured.receiver.spans_named("live.connection", count=2)
    events = {s["attributes"][keys.EVENT_ID]: s for s in configured.receiver.spans_named("live.event", count=2)}
    assert first["attributes"][keys.SESSION_ID] == second["attributes"][keys.SESSION_ID]
    assert first["attributes"][keys.CONNECTION_ID] != second["attributes"][keys.CONNECTION_ID]
    assert keys.RECONNECT not in first["attributes"]
    assert second["attributes"][keys.RECONNECT] is True
    # the previous id is the one the previous connection's spans carried, the browser's when it named one
    previous = second["attributes"][keys.CONNECTION_PREVIOUS_ID]
    assert previous == first["attributes"][keys.CONNECTION_ID] == events[EVENT_1]["attributes"][keys.CONNECTION_ID]
    assert events[EVENT_2]["attributes"][keys.CONNECTION_ID] == second["attributes"][keys.CONNECTION_ID]
    if named_in != "nowhere":
        assert (previous, second["attributes"][keys.CONNECTION_ID]) == ("conn-browser-0", "conn-browser-1")


def test_an_oversized_message_closes_with_1009_and_security_evidence(
    configured: Any, serve: Any, build_app: Any, envelope: Any
) -> None:
    server = serve(build_app(max_message_bytes=1024))
    with connect(f"{server.ws}/live") as ws:
        ws.send(envelope("add_card", EVENT_1, 1) + " " * 2048)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    (connection,) = configured.receiver.spans_named("live.connection")
    (refusal,) = [e for e in connection["events"] if e["name"] == evidence.SECURITY_EVENT]
    assert refusal["attributes"][evidence.SECURITY_CHECK] == evidence.CHECK_BODY_LIMIT
    assert refusal["attributes"][evidence.SECURITY_OUTCOME] == evidence.OUTCOME_REFUSED
    assert configured.receiver.spans_named("live.event", timeout=0.2) == []


def test_event_and_render_durations_name_their_route_as_http_route(
    configured: Any, serve: Any, build_app: Any, envelope: Any
) -> None:
    import httpx

    from liveobs.conventions import evidence as ev

    server = serve(build_app(route_id=lambda scope: "board.show"))
    assert httpx.get(f"{server.http}/board/7", headers={"Cookie": "sid=abc"}).status_code == 200
    with connect(f"{server.ws}/live", additional_headers={"Cookie": "sid=abc"}) as ws:
        ws.send(envelope("add_card", EVENT_1, 1))
        ws.recv()
    configured.receiver.spans_named("live.event", count=1)
    data = configured.metrics.get_metrics_data()
    points = {m.name: [dict(p.attributes or {}) for p in m.data.data_points]
              for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert points[ev.METRIC_EVENT_DURATION] == [{keys.EVENT_NAME: "add_card", keys.HTTP_ROUTE: "/board/{board_id}"}]
    assert points[ev.METRIC_RENDER_DURATION] == [
        {keys.HTTP_ROUTE: "/board/{board_id}", keys.HTTP_RESPONSE_STATUS_CODE: 200}]
    for name, attributes in points.items():
        if name.startswith("liveobs.") and attributes:
            assert all(keys.ROUTE_ID not in a for a in attributes), name
