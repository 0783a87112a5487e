"""Close codes every ASGI server accepts.

After an app fails on a live socket, the liveobs middleware answers the pending
event and closes with 1011 ("internal error"), the code browsers and the htmx ws
extension treat as a reason to reconnect. Some servers refuse it: daphne (through
autobahn) accepts only 1000 and 3000-4999, and raises instead of closing, so the
browser is left with a dropped connection and the server logs an exception of
its own. :class:`AcceptedCloseCodes`, the outermost layer of an adapter, sends
1011 as it is and, where the server refuses it, closes with 4500 instead (the
private-use code the Channels and Phoenix adapters close with).
"""

from __future__ import annotations

from typing import Final

from liveobs.sdk.adapters._companion import ASGIApp, Message, Receive, Scope, Send

CLOSE_INTERNAL: Final = 1011
CLOSE_INTERNAL_PRIVATE: Final = 4500


class AcceptedCloseCodes:
    """ASGI: a WebSocket close with 1011 that the server refuses goes out as 4500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "websocket":
            await self.app(scope, receive, send)
            return

        async def send_accepted(message: Message) -> None:
            if message.get("type") != "websocket.close" or message.get("code") != CLOSE_INTERNAL:
                await send(message)
                return
            try:
                await send(message)
            except Exception:  # daphne: "invalid close code 1011 (must be 1000 or from [3000, 4999])"
                await send({**message, "code": CLOSE_INTERNAL_PRIVATE})

        await self.app(scope, receive, send_accepted)
