"""A todo board in NiceGUI's idiom (``@ui.page``, buttons with Python handlers, ``ui.run``), with liveobs.

"Sort by due" has a real bug: cards without a due date cannot be ordered. It is
an async handler, which NiceGUI runs as a background task; "Add card" is a plain
function, and so is "Archive first", whose bug is a card without an owner. The lines marked ``# liveobs`` are all the app adds. Run it as
``python nicegui_board.py <fd>``: NiceGUI's own server (uvicorn, started by
``ui.run``) on a listening socket bound to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import structlog
from nicegui import app, ui

import liveobs.sdk  # liveobs
from liveobs.sdk.adapters.nicegui import nicegui_head_tags, observe_nicegui  # liveobs

liveobs.sdk.configure("nicegui-board", "1.0.0", "test")  # liveobs
log = structlog.get_logger("board")
cards: list[dict[str, Any]] = []


@ui.page("/board")
def board() -> None:
    ui.add_head_html(nicegui_head_tags())  # liveobs
    ui.add_body_html('<p>Something went wrong? Reference: <span id="ref"></span></p><script>'
                     'document.addEventListener("liveobs:error", e => { ref.textContent = e.detail.reference; });'
                     "</script>")
    title = ui.input("Title")
    listing = ui.column()

    def add_card() -> None:
        cards.append({"title": title.value or "untitled", "due": None})
        log.info("card added", count=len(cards))
        with listing:
            ui.label(cards[-1]["title"]).classes("card")

    async def sort_by_due() -> None:
        log.info("sorting cards", count=len(cards))
        await asyncio.sleep(0.01)
        cards.sort(key=lambda c: c["due"])

    def archive_first() -> None:
        log.info("archiving", count=len(cards))
        ui.notify(f"archived for {cards[0]['owner']}")

    ui.button("Add card", on_click=add_card)
    ui.button("Sort by due", on_click=sort_by_due)
    ui.button("Archive first", on_click=archive_first)


@ui.page("/readyz")
def ready() -> None:
    ui.label("ok")


observe_nicegui(app)  # liveobs

if __name__ in {"__main__", "__mp_main__"}:
    ui.run(host="127.0.0.1", fd=int(sys.argv[1]), reload=False, show=False, show_welcome_message=False,
           uvicorn_logging_level="warning")
