"""A todo board in the Django Channels idiom (a view, a template, a JsonWebsocketConsumer), with liveobs.

"Sort by due" has a real bug: cards without a due date cannot be ordered. The
lines marked ``# liveobs`` are all the app adds (one more, ``{{ liveobs_head }}``,
is in the template). ``/ws/board/`` is a sync consumer (its handler runs in a thread), ``/ws/async-board/``
an async one (``/board/?consumer=async``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django
import structlog
from django.conf import settings

import liveobs.sdk  # liveobs

HERE = Path(__file__).resolve().parent
settings.configure(
    DEBUG=False, SECRET_KEY="board-tests-only", ALLOWED_HOSTS=["127.0.0.1"], ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.sessions", "channels"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    SESSION_ENGINE="django.contrib.sessions.backends.cache",
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [HERE / "channels_templates"],
                "OPTIONS": {"context_processors": ["liveobs.sdk.adapters.channels.liveobs_head"]}}],  # liveobs
    DATABASES={}, USE_TZ=True, LOGGING_CONFIG=None,
)
django.setup()
liveobs.sdk.configure("channels-board", "1.0.0", "test")  # liveobs

from channels.generic.websocket import AsyncJsonWebsocketConsumer, JsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402

from liveobs.sdk.adapters.channels import LiveObsConsumer, observe_channels_app  # noqa: E402  # liveobs

log = structlog.get_logger("board")
cards: list[dict[str, Any]] = []


def board(request: HttpRequest) -> HttpResponse:
    socket = "/ws/async-board/" if request.GET.get("consumer") == "async" else "/ws/board/"
    return render(request, "channels_board.html", {"cards": cards, "socket": socket})


class Board(LiveObsConsumer, JsonWebsocketConsumer):  # type: ignore[misc]  # liveobs: the mixin
    def connect(self) -> None:
        self.accept()

    def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if content.get("event") == "sort_by_due":
            log.info("sorting cards", count=len(cards))
            cards.sort(key=lambda c: c["due"])
        else:
            cards.append({"title": content.get("title") or "untitled", "due": None})
            log.info("card added", count=len(cards))
        self.send_json({"cards": [c["title"] for c in cards]})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


class AsyncBoard(LiveObsConsumer, AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # liveobs: the mixin
    async def connect(self) -> None:
        await self.accept()

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if content.get("event") == "sort_by_due":
            log.info("sorting cards", count=len(cards))
            cards.sort(key=lambda c: c["due"])
        else:
            cards.append({"title": content.get("title") or "untitled", "due": None})
            log.info("card added", count=len(cards))
        await self.send_json({"cards": [c["title"] for c in cards]})


urlpatterns = [path("board/", board), path("healthz/", healthz)]
http = get_asgi_application()
application = observe_channels_app(ProtocolTypeRouter({  # liveobs
    "http": http,
    "websocket": AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter([
        path("ws/board/", Board.as_asgi()), path("ws/async-board/", AsyncBoard.as_asgi()),
    ]))),
}))
