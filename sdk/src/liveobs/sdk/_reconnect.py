"""Reconnect bookkeeping: the last connection of each session, to tell a reconnect from a first connect."""

from __future__ import annotations


class ReconnectTracker:
    """Remembers the last connection of each session, to tell a reconnect from a first connect."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._last: dict[str, str] = {}
        self._max = max_sessions

    def connected(self, session_id: str, connection_id: str) -> str | None:
        """Record the connection; return the session's previous connection id, if any."""
        previous = self._last.pop(session_id, None)
        if len(self._last) >= self._max:
            self._last.pop(next(iter(self._last)))  # oldest first: dicts keep insertion order
        self._last[session_id] = connection_id
        return previous if previous != connection_id else None

    def renamed(self, session_id: str, old: str, new: str) -> None:
        """The session's connection ``old`` now goes by ``new`` (the id its spans carry from now on)."""
        if self._last.get(session_id) == old:
            self._last[session_id] = new
