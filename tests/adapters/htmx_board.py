"""A todo board in the htmx ws idiom (Starlette, HTML fragments over a WebSocket), with liveobs.

"Sort by due" has a real bug: cards without a due date cannot be ordered.
The lines marked ``# liveobs`` are all the app adds.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

import liveobs.sdk  # liveobs
from liveobs.sdk.adapters.htmx import htmx_head_tags, observe_htmx_app  # liveobs

liveobs.sdk.configure("htmx-board", "1.0.0", "test")  # liveobs
log = structlog.get_logger("board")
VENDOR = Path(__file__).parent / "vendor"

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Board</title><link rel="icon" href="data:,">
<script src="/vendor/htmx-2.0.11.min.js"></script><script src="/vendor/htmx-ext-ws-2.0.4.js"></script>
{liveobs_head}
<script>document.addEventListener("liveobs:error", function (e) {{ document.getElementById("ref").textContent = e.detail.reference; }});</script>
</head><body>
<div hx-ext="ws" ws-connect="/ws">
  <form id="add-form" name="add_card" ws-send><input name="title" id="title"><button id="add">Add card</button></form>
  <button id="sort" name="sort_by_due" ws-send hx-vals='{{"action": "sort"}}'>Sort by due</button>
  {cards}
</div>
<p>Something went wrong? Reference: <span id="ref"></span></p>
</body></html>"""


def render_cards(cards: list[dict[str, Any]]) -> str:
    items = "".join(f"<li class='card'>{html.escape(c['title'])}</li>" for c in cards)
    return f'<ul id="cards" hx-swap-oob="true">{items}</ul>'


cards: list[dict[str, Any]] = []


async def board(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.format(liveobs_head=htmx_head_tags(timeout_ms=2000), cards=render_cards(cards)))


async def live(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            if data.get("action") == "sort":
                log.info("sorting cards", count=len(cards))
                cards.sort(key=lambda c: c["due"])
            else:
                cards.append({"title": data.get("title") or "untitled", "due": None})
                log.info("card added", count=len(cards))
            await websocket.send_text(render_cards(cards))
    except WebSocketDisconnect:
        pass


app = observe_htmx_app(Starlette(routes=[  # liveobs
    Route("/board", board), WebSocketRoute("/ws", live), Mount("/vendor", StaticFiles(directory=VENDOR)),
]))
