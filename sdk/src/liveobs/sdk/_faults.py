"""A failure inside liveobs is counted and warned about once, and the app goes on.

Every part of the SDK that runs inside the app's own calls (a span's end, a
log call, an export, a histogram record) catches what it cannot handle and
calls :func:`fault` with its part's name. The first fault of a part logs one
warning on the ``liveobs.sdk`` logger; every fault is counted, and
:func:`fault_counts` gives the counts per part. The part then falls back to
the plain OpenTelemetry path or turns itself off, as its caller decides.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

_log = logging.getLogger("liveobs.sdk")

# The parts that report faults (the names tests and operators see). The middleware,
# the live event wrapper and configure() report under their own place names
# ("http", "websocket.receive", ...).
SPAN: Final = "span"
SPAN_PROCESSOR: Final = "span_processor"
SPAN_EXPORT: Final = "span_export"
LOG_CHAIN: Final = "log_chain"
LOG_BRIDGE: Final = "log_bridge"
LOG_EXPORT: Final = "log_export"
HISTOGRAM: Final = "histogram"
COMPAT: Final = "compat"
SCRUBBER: Final = "scrubber"  # vetting ids and names from outside (the exporters count under their own parts)

_counts: dict[str, int] = {}
_lock = threading.Lock()


def fault(part: str, error: BaseException | str) -> None:
    """Count a failure of ``part``; the first one of each part logs a warning. Never raises."""
    try:
        with _lock:
            first = part not in _counts
            _counts[part] = _counts.get(part, 0) + 1
        if first:
            detail = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            _log.warning("liveobs telemetry degraded: %s failed (%s); the app goes on, further failures are counted",
                         part, detail)
    except Exception:  # reporting a fault must never become one
        pass


def fault_counts() -> dict[str, int]:
    """How many failures each part had since the process started (or since :func:`reset_faults`)."""
    with _lock:
        return dict(_counts)


def reset_faults() -> None:
    """Forget the counts, so the next failure of each part warns again."""
    with _lock:
        _counts.clear()
