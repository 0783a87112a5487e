"""Connection limits for the collector's HTTP server: slow or idle clients cannot hold it.

uvicorn closes an idle keep-alive connection after a delay, but it has no
timeout for a request's headers or body, and its ``limit_concurrency`` counts
every open connection: 1,024 clients that never finish their headers made every
other request a 503. :class:`GuardedHttpProtocol` (uvicorn's httptools protocol)
adds what is missing:

- a **header timeout**: a request whose headers are not complete within
  ``header_timeout`` seconds of its first byte (or of the connection, or of the
  previous answer) is closed;
- a **body timeout**, each way: a body not complete within ``body_timeout``
  seconds of its headers is closed (the application sees a disconnect), and so
  is a connection whose client has not read the answer for ``body_timeout``
  seconds (a slow reader);
- a **connection cap**: past ``max_connections`` open connections, a new one
  closes the connection that has waited longest on its client (headers or body
  not sent, answer not read, or idle between requests); a request the
  application is working on is never closed this way. A slow client therefore costs its own connection,
  not the service of everyone else.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT_S: Final = 10.0
DEFAULT_BODY_TIMEOUT_S: Final = 30.0
DEFAULT_IDLE_TIMEOUT_S: Final = 5.0
DEFAULT_MAX_CONNECTIONS: Final = 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The server's timeouts (seconds) and connection cap."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout: float = DEFAULT_BODY_TIMEOUT_S
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body timeouts and a connection cap that sheds the
    connection waiting longest on its client."""

    limits: ConnectionLimits = ConnectionLimits()
    # Connections closed by a timeout or shed by the cap, for /healthz (one server per process).
    closed_slow: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_data = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    @classmethod
    def with_limits(cls, limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
        """A subclass bound to ``limits`` (uvicorn builds one protocol object per connection)."""
        return type("GuardedHttpProtocol", (cls,), {"limits": limits})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_data = time.monotonic()
        self._arm(self.limits.header_timeout)
        if len(self.connections) > self.limits.max_connections:
            self._shed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.body_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def data_received(self, data: bytes) -> None:
        self._last_data = time.monotonic()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.limits.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.limits.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def waiting_on_client(self) -> bool:
        """Whether this connection waits for its client: headers, body, reading the answer, or the next request."""
        cycle = self.cycle
        if self.flow is not None and self.flow.write_paused:
            return True
        return cycle is None or cycle.response_complete or cycle.more_body

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self.waiting_on_client() and not self.transport.is_closing():
            self._drop()

    def _write_stalled(self) -> None:
        self._write_timer = None
        if self.flow.write_paused:
            self._drop()

    def _drop(self) -> None:
        """Close the connection; abort it when the answer is stuck unread (a close would wait to send it)."""
        type(self).closed_slow += 1
        if self.flow is not None and self.flow.write_paused:
            self.transport.abort()
        else:
            self.transport.close()

    def _shed(self) -> None:
        """Close the open connection that has waited longest on its client (this one if none waits)."""
        waiting = [
            c for c in self.connections
            if isinstance(c, GuardedHttpProtocol) and c is not self and c.waiting_on_client()
            and not c.transport.is_closing()
        ]
        victim = min(waiting, key=lambda c: c._last_data, default=self)
        victim._drop()


def uvicorn_settings(limits: ConnectionLimits) -> tuple[dict[str, Any], type[GuardedHttpProtocol]]:
    """The ``uvicorn.Config`` settings that apply ``limits``, and the protocol class (for its counter).

    uvicorn's own ``limit_concurrency`` is off: it counted idle connections too and
    answered 503 to everyone else; the cap above sheds the slow ones instead.
    """
    protocol = GuardedHttpProtocol.with_limits(limits)
    settings: dict[str, Any] = {
        "http": protocol,
        "limit_concurrency": None,
        "timeout_keep_alive": limits.idle_timeout,
    }
    return settings, protocol
