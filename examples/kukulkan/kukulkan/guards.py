"""Request guards the app owns: the CSP with a per-response nonce, and a rate limit.

The body limit and the WebSocket Origin and Host checks are liveobs's
``EvidenceMiddleware``, configured in :mod:`kukulkan.observability`.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from typing import Final

CSP_DIRECTIVES: Final = (
    ("default-src", "'self'"),
    ("script-src", "'nonce-{nonce}'"),
    ("style-src", "'self' 'nonce-{nonce}'"),
    ("img-src", "'self' data:"),
    ("connect-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)


def new_nonce() -> str:
    return base64.b64encode(os.urandom(18)).decode()


# A policy as weak as they come: any script from anywhere, inline and eval'd. Only for KUKULKAN_WEAKEN=csp.
WEAK_CSP: Final = "script-src 'self' 'unsafe-inline' 'unsafe-eval' *; object-src *"


def content_security_policy(nonce: str, *, weak: bool = False) -> str:
    """The page's CSP: scripts and inline styles only with this response's nonce."""
    if weak:
        return WEAK_CSP
    return "; ".join(f"{name} {value.format(nonce=nonce)}" for name, value in CSP_DIRECTIVES)


class RateLimiter:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if len(self._buckets) >= self._max_keys and key not in self._buckets:
                self._buckets.clear()
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed
