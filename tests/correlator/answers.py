"""Requests submitted to a writer together, and their answers once every one has come."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from liveobs.correlator._otlp import Signal


def answers(
    writer: Any, signal: Signal, payloads: Sequence[bytes], *, start: Callable[[], object] | None = None,
    timeout: float = 60.0,
) -> list[object]:
    """Submit every payload, then call ``start`` (a writer's ``start``: its threads then find them all
    waiting together), and return the answers (results or errors) in the order they came."""
    results: list[object] = []
    finished = threading.Event()

    def done(outcome: object) -> None:
        results.append(outcome)
        if len(results) == len(payloads):
            finished.set()

    for payload in payloads:
        writer.submit(signal, payload, done)
    if start is not None:
        start()
    assert finished.wait(timeout), f"{len(results)} of {len(payloads)} requests answered"
    return results
