"""Failures inside liveobs's own middleware, live event wrapper and configure(): counted, warned about once.

liveobs must never be the reason an app fails. Where its own code raises
(an internal that changed, a processor that breaks, a bug), the caller degrades
the telemetry of that request or event, calls :func:`fault`, and lets the
app's request, live event and ``receive()`` go on. :func:`faults` tells how
often each place failed since the process started.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

_log = logging.getLogger("liveobs.sdk")
_lock = threading.Lock()
_counts: Counter[str] = Counter()


def fault(where: str, exc: BaseException) -> None:
    """Count a failure of liveobs at ``where``; the first one of each place is logged as a warning. Never raises."""
    try:
        with _lock:
            _counts[where] += 1
            first = _counts[where] == 1
        if first:
            _log.warning("liveobs: %s failed (%s: %s); the app goes on, telemetry of this part is degraded",
                         where, type(exc).__name__, exc)
    except Exception:
        pass


def faults() -> dict[str, int]:
    """How many times each place failed, by place (``"http"``, ``"websocket.receive"``, ...)."""
    with _lock:
        return dict(_counts)
