"""Waiting for a child process's output without ``select.select``, whose descriptor sets end at 1024.

An embedded ClickHouse engine keeps a file open per data part it has read, so late in a
run a new pipe's descriptor can lie past that limit.
"""

from __future__ import annotations

import selectors
from typing import IO, Any


def readable(stream: IO[Any], timeout: float) -> bool:
    """Whether ``stream`` has something to read (or has closed) within ``timeout`` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        return bool(selector.select(timeout))
