"""The live channel: board events in over the WebSocket, patches and updates out.

Each message is ``{"event": name, ...payload, "lo": {...}}``; liveobs's
middleware reads the ``lo`` envelope, gives the event its own trace and adds
the ``lo`` reply to our answer. A change is also pushed to every other
connection (the stream of updates), tagged with the event that caused it. An
unexpected exception becomes an error reply with the class only; the
connection stays open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from kukulkan import observability as obs
from kukulkan.accounts import CAP_ARCHIVE, CAP_CLEAR, SCOPE_EDITOR, SCOPE_VIEWER, AccessDenied, User
from kukulkan.board import Board, BoardError
from kukulkan.guards import RateLimiter
from liveobs.sdk import error_reply

_log = structlog.get_logger("kukulkan.live")
Render = Callable[[Board], str]


class Hub:
    """The open live connections, for pushing updates to everyone else."""

    def __init__(self) -> None:
        self._sockets: set[WebSocket] = set()

    def join(self, socket: WebSocket) -> None:
        self._sockets.add(socket)

    def leave(self, socket: WebSocket) -> None:
        self._sockets.discard(socket)

    def __len__(self) -> int:
        return len(self._sockets)

    async def push(self, origin: WebSocket, message: dict[str, Any]) -> int:
        others = [s for s in self._sockets if s is not origin]
        results = await asyncio.gather(*(s.send_json(message) for s in others), return_exceptions=True)
        for socket, result in zip(others, results, strict=True):
            if isinstance(result, BaseException):
                self.leave(socket)
        return len(others)


class LiveSession:
    """One signed-in user's live connection."""

    def __init__(self, socket: WebSocket, user: User, board: Board, hub: Hub, limiter: RateLimiter,
                 render: Render) -> None:
        self.socket = socket
        self.user = user
        self.board = board
        self.hub = hub
        self.limiter = limiter
        self.render = render
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[str | None]]] = {
            "add_card": self.add_card,
            "move_card": self.move_card,
            "archive_card": self.archive_card,
            "sort_by_due": self.sort_by_due,
            "clear_done": self.clear_done,
            "refresh": self.refresh,
        }

    async def run(self) -> None:
        self.hub.join(self.socket)
        try:
            while True:
                await self.receive_one()
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.leave(self.socket)

    async def receive_one(self) -> None:
        text = await self.socket.receive_text()
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self.socket.send_json({"notice": "That message could not be read."})
            return
        message.pop("lo", None)
        name = message.get("event")
        handler = self.handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            await self.socket.send_json({"notice": "Unknown action."})
            return
        allowed = self.limiter.allow(self.user.name)
        obs.rate_limit(allowed, policy="live-events", per_minute=self.limiter.rate * 60)
        if not allowed:
            await self.socket.send_json({"notice": "Slow down: too many actions.", "rate_limited": True})
            return
        try:
            notice = await handler(message)
        except AccessDenied as denied:
            await self.socket.send_json({"notice": f"Not allowed: {denied.kind} {denied.required} required.",
                                         "denied": denied.kind})
            return
        except BoardError as refused:
            await self.socket.send_json({"notice": str(refused)})
            return
        except Exception as exc:  # the bug path: class only to the browser, the rest on the span
            _log.exception("live event failed", action=name)
            await self.socket.send_json(error_reply(exc))
            return
        _log.info("live event handled", action=name, board_version=self.board.version)
        await self.send_board(notice)

    async def send_board(self, notice: str | None = None) -> None:
        patch = {"target": "board", "html": self.render(self.board)}
        reply: dict[str, Any] = {"patch": patch, "version": self.board.version}
        if notice:
            reply["notice"] = notice
        await self.socket.send_json(reply)

    async def broadcast(self) -> None:
        patch = {"target": "board", "html": self.render(self.board)}
        update: dict[str, Any] = {"type": "update", "patch": patch, "version": self.board.version}
        event_id = obs.current_event_id()
        if event_id:  # names the causing event, so the middleware never takes it for a reply
            update["lo"] = {"event_id": event_id, "push": True}
        sent = await self.hub.push(self.socket, update)
        obs.stream_pushed(sent, sent * len(json.dumps(update)))

    def require_scope(self, scope: str) -> None:
        allowed = self.user.has_scope(scope)
        obs.scope_check(scope, self.user.scope, allowed)
        if not allowed:
            raise AccessDenied("scope", scope, self.user.scope)

    def require_capability(self, capability: str) -> None:
        allowed = capability in self.user.capabilities
        obs.capability_check(capability, allowed, self.user.capabilities)
        if not allowed:
            raise AccessDenied("capability", capability, self.user.scope)

    async def add_card(self, message: dict[str, Any]) -> str | None:
        self.require_scope(SCOPE_EDITOR)
        card = self.board.add(message.get("title"), message.get("column", "todo"))
        _log.info("card added", card_id=card.id, column=card.column)
        await self.broadcast()
        return None

    async def move_card(self, message: dict[str, Any]) -> str | None:
        self.require_scope(SCOPE_EDITOR)
        card = self.board.move(message.get("card_id"), message.get("column"))
        _log.info("card moved", card_id=card.id, column=card.column)
        await self.broadcast()
        return None

    async def archive_card(self, message: dict[str, Any]) -> str | None:
        self.require_scope(SCOPE_VIEWER)
        self.require_capability(CAP_ARCHIVE)
        card = self.board.archive(message.get("card_id"))
        _log.info("card archived", card_id=card.id)
        await self.broadcast()
        return f"Archived “{card.title}”."

    async def sort_by_due(self, message: dict[str, Any]) -> str | None:
        self.require_scope(SCOPE_EDITOR)
        cards = self.board.sort_by_due(message.get("column"))
        _log.info("column sorted", column=message.get("column"), cards=len(cards))
        await self.broadcast()
        return None

    async def clear_done(self, message: dict[str, Any]) -> str | None:
        """Archive every card in the done column (a capability editors hold)."""
        self.require_scope(SCOPE_VIEWER)
        self.require_capability(CAP_CLEAR)
        cleared = [self.board.archive(card.id) for card in self.board.cards("done")]
        _log.info("done column cleared", cards=len(cleared))
        await self.broadcast()
        return f"Cleared {len(cleared)} done card{'s' if len(cleared) != 1 else ''}."

    async def refresh(self, message: dict[str, Any]) -> str | None:
        self.require_scope(SCOPE_VIEWER)
        return None
