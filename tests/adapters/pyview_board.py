"""A todo board in pyview's idiom (a LiveView, its template beside it, the Phoenix LiveView client).

"Sort by due" has a real bug: cards without a due date cannot be ordered.
The lines marked ``# liveobs`` are all the app adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from pyview import LiveView, LiveViewSocket, PyView, defaultRootTemplate
from starlette.staticfiles import StaticFiles

import liveobs.sdk  # liveobs
from liveobs.sdk.adapters.phoenix import observe_phoenix_app, phoenix_root_template  # liveobs
from liveobs.sdk.adapters.pyview import LiveObsInstrumentation  # liveobs

liveobs.sdk.configure("pyview-board", "1.0.0", "test")  # liveobs
log = structlog.get_logger("board")
SHOW_REFERENCE = ('<script>document.addEventListener("liveobs:error", function (e) {'  # liveobs
                  ' var p = document.getElementById("ref") || document.body.appendChild(document.createElement("p"));'
                  ' p.id = "ref"; p.textContent = e.detail.reference; });</script>')


@dataclass
class Card:
    title: str
    due: Any = None


@dataclass
class Board:
    cards: list[Card] = field(default_factory=list)


class BoardLiveView(LiveView[Board]):
    async def mount(self, socket: LiveViewSocket[Board], session: dict[str, Any]) -> None:
        socket.context = Board()

    async def handle_event(self, event: str, payload: dict[str, Any], socket: LiveViewSocket[Board]) -> None:
        cards = socket.context.cards
        if event == "add_card":
            cards.append(Card(f"card {len(cards) + 1}"))
            log.info("card added", count=len(cards))
        elif event == "sort_by_due":
            log.info("sorting cards", count=len(cards))
            cards.sort(key=lambda c: c.due)


pyview_app = PyView(instrumentation=LiveObsInstrumentation())  # liveobs
pyview_app.mount("/static", StaticFiles(packages=[("pyview", "static")]), name="static")
pyview_app.rootTemplate = phoenix_root_template(defaultRootTemplate, head_content=SHOW_REFERENCE, timeout_ms=2000)  # liveobs
pyview_app.add_live_view("/board", BoardLiveView)
app = observe_phoenix_app(pyview_app)  # liveobs
