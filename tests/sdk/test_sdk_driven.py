"""Driven evidence: a request or socket marked ``X-Liveobs-Evidence: driven`` is recorded as driven, others not.

Through the real middleware under uvicorn, exported with the real OTLP/HTTP exporter.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.sync.client import connect

from liveobs.conventions import keys

DRIVEN = {keys.HEADER_EVIDENCE_SOURCE: keys.EVIDENCE_DRIVEN}
EVENT_1 = "01890a5d-ac96-774b-bcce-b302099a8057"
EVENT_2 = "01890a5d-ac96-774b-bcce-b302099a8058"


def test_a_driven_request_is_marked_and_an_ordinary_one_is_not(configured: Any, serve: Any, build_app: Any) -> None:
    server = serve(build_app())
    httpx.get(f"{server.http}/board/1", headers={**DRIVEN, "X-Request-ID": "req-driven"})
    httpx.get(f"{server.http}/board/2", headers={"X-Request-ID": "req-real"})
    # A header that merely looks similar marks nothing.
    httpx.get(f"{server.http}/board/3", headers={keys.HEADER_EVIDENCE_SOURCE: "driven-by-me", "X-Request-ID": "req-odd"})
    configured.flush()
    spans = {s["attributes"][keys.REQUEST_ID]: s for s in configured.receiver.spans_named("GET ", count=3)}
    assert spans["req-driven"]["attributes"][keys.EVIDENCE_SOURCE] == keys.EVIDENCE_DRIVEN
    assert keys.EVIDENCE_SOURCE not in spans["req-real"]["attributes"]
    assert keys.EVIDENCE_SOURCE not in spans["req-odd"]["attributes"]


def test_a_driven_socket_marks_its_connection_and_every_live_event(configured: Any, serve: Any, build_app: Any,
                                                                  envelope: Any) -> None:
    server = serve(build_app())
    with connect(f"{server.ws}/live", additional_headers={"Cookie": "sid=abc", **DRIVEN}) as ws:
        ws.send(envelope("add_card", EVENT_1, 1))
        json.loads(ws.recv())
    with connect(f"{server.ws}/live", additional_headers={"Cookie": "sid=def"}) as ws:
        ws.send(envelope("add_card", EVENT_2, 1))
        json.loads(ws.recv())
    events = {s["attributes"][keys.EVENT_ID]: s for s in configured.receiver.spans_named("live.event", count=2)}
    connections = configured.receiver.spans_named("live.connection", count=2)
    assert events[EVENT_1]["attributes"][keys.EVIDENCE_SOURCE] == keys.EVIDENCE_DRIVEN
    assert keys.EVIDENCE_SOURCE not in events[EVENT_2]["attributes"]
    marked = [c["attributes"].get(keys.EVIDENCE_SOURCE) for c in connections]
    assert sorted(marked, key=str) == [None, keys.EVIDENCE_DRIVEN]


def test_the_driver_drives_an_app_without_sign_in_as_anonymous_visitors(configured: Any, serve: Any) -> None:
    from browser_helpers import board_app  # the SDK tests' live board, open to anonymous visitors

    from liveobs.cli._driver import parse, run_driver

    server = serve(board_app())
    scenario = parse({"load": {"sessions": 3, "pages": ["/board/7"], "reconnects": 1,
                               "actions": [{"event": "add_card", "action": "add"}]}}, environ={})
    report = run_driver(server.http, scenario)
    assert (report.sessions, report.connects, report.reconnects, report.page_loads) == (3, 4, 1, 3)
    assert report.actions == 4
    assert report.failed_actions == 0
    assert report.release == "1.4.2"
    configured.flush()
    events = configured.receiver.spans_named("live.event", count=4)
    pages = configured.receiver.spans_named("GET /board", count=3)
    assert {s["attributes"].get(keys.EVIDENCE_SOURCE) for s in [*events, *pages]} == {keys.EVIDENCE_DRIVEN}
