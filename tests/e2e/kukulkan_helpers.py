"""Shared by the Kukulkan tests: the example on sys.path, the app under a real uvicorn, in-memory telemetry."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "kukulkan"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from kukulkan.app import Settings, build  # noqa: E402
from kukulkan.sessions import KeyRing, SessionKey  # noqa: E402


def key_ring(*ids: str) -> KeyRing:
    return KeyRing([SessionKey(i, os.urandom(32), time.time()) for i in ids or ("t1",)], "env")


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"release": "1.4.0", "environment": "test", "keys": key_ring()}
    values.update(overrides)
    return Settings(**values)


@dataclass
class Served:
    url: str
    spans: InMemorySpanExporter
    settings: Settings

    def security_events(self) -> list[dict[str, Any]]:
        """Every liveobs.security span event recorded so far, as attribute dicts."""
        return [dict(event.attributes or {}) for span in self.spans.get_finished_spans() for event in span.events
                if event.name == "liveobs.security"]


@contextmanager
def serve(*, tls: tuple[Path, Path] | None = None, **overrides: Any) -> Iterator[Served]:
    """The app under a real uvicorn on a free 127.0.0.1 port, spans kept in memory.

    ``tls`` (certificate and key files) serves it over https.
    """
    config_settings = settings(**overrides)
    spans = InMemorySpanExporter()
    app = build(config_settings, span_exporter=spans, batch=False, configure_structlog=False,
                set_global=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    certificate: dict[str, Any] = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio",
                                           **certificate))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield Served(f"{'https' if tls else 'http'}://127.0.0.1:{port}", spans, config_settings)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
