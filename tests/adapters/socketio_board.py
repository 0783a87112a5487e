"""A todo board in the python-socketio idiom (AsyncServer handlers, the socket.io JS client), with liveobs.

"Sort by due" has a real bug: cards without a due date cannot be ordered.
The lines marked ``# liveobs`` are all the app adds (the page's ``io(...)`` is
``liveobs.io(...)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import socketio
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import liveobs.sdk  # liveobs
from liveobs.sdk.adapters.socketio import (  # liveobs
    observe_socketio,
    observe_socketio_app,
    socketio_head_tags,
)

liveobs.sdk.configure("socketio-board", "1.0.0", "test")  # liveobs
log = structlog.get_logger("board")
VENDOR = Path(__file__).parent / "vendor"

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Board</title><link rel="icon" href="data:,">
<script src="/vendor/socket.io-4.8.4.min.js"></script>
{liveobs_head}
</head><body>
<input id="title"><button id="add">Add card</button> <button id="sort">Sort by due</button>
<ul id="cards"></ul>
<p>Something went wrong? Reference: <span id="ref"></span></p>
<script>
document.addEventListener("liveobs:error", function (e) {{ document.getElementById("ref").textContent = e.detail.reference; }});
window.addEventListener("load", function () {{
  var socket = liveobs.io();
  socket.on("cards", function (titles) {{
    document.getElementById("cards").innerHTML = titles.map(function (t) {{
      var li = document.createElement("li"); li.textContent = t; return li.outerHTML; }}).join("");
  }});
  document.getElementById("add").onclick = function () {{
    socket.emit("add_card", {{title: document.getElementById("title").value}}); }};
  document.getElementById("sort").onclick = function () {{ socket.emit("sort_by_due", {{}}); }};
}});
</script>
</body></html>"""

sio = socketio.AsyncServer(async_mode="asgi")
cards: list[dict[str, Any]] = []


@sio.event
async def add_card(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    cards.append({"title": data.get("title") or "untitled", "due": None})
    log.info("card added", count=len(cards))
    await sio.emit("cards", [c["title"] for c in cards], to=sid)
    return {"count": len(cards)}


@sio.event
def sort_by_due(sid: str, data: dict[str, Any]) -> None:
    log.info("sorting cards", count=len(cards))
    cards.sort(key=lambda c: c["due"])


async def board(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.format(liveobs_head=socketio_head_tags()))


observe_socketio(sio)  # liveobs
pages = Starlette(routes=[Route("/board", board), Mount("/vendor", StaticFiles(directory=VENDOR))])
app = observe_socketio_app(socketio.ASGIApp(sio, other_asgi_app=pages))  # liveobs
