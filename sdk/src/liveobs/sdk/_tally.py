"""Counts of what liveobs handed to its exporters and what they exported, for the last word at shutdown."""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any, cast

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from liveobs.sdk._compat import LogRecordExporter, LogRecordExportResult, LogRecordProcessor


class Tally:
    """How many spans and log records went in and how many an exporter took (thread-safe enough: ints under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.handed = {"spans": 0, "logs": 0}
        self.exported = {"spans": 0, "logs": 0}
        self.bridged = itertools.count()  # records the structlog bridge queued directly
        # Counts one bridged record (``next`` on a counter: atomic, no lock); the bridge's direct sink calls it.
        self.count_bridged = self.bridged.__next__
        self._bridged_before = 0
        global _hooked
        if not _hooked and hasattr(os, "register_at_fork"):
            _hooked = True
            os.register_at_fork(after_in_child=_after_fork_in_child)
        _ALL.add(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a lock another thread of the parent held stays held in the child
        self.handed = {"spans": 0, "logs": 0}
        self.exported = {"spans": 0, "logs": 0}
        self._bridged_before = _value(self.bridged)  # the sink keeps stepping the same counter

    def hand(self, signal: str, count: int = 1) -> None:
        with self._lock:
            self.handed[signal] += count

    def took(self, signal: str, count: int) -> None:
        with self._lock:
            self.exported[signal] += count

    def counts(self, spans_handed: int | None = None) -> dict[str, int]:
        """``exported spans``, ``unexported spans`` and the same for logs."""
        with self._lock:
            handed = dict(self.handed)
            exported = dict(self.exported)
        handed["logs"] += _value(self.bridged) - self._bridged_before
        if spans_handed is not None:
            handed["spans"] = spans_handed
        out: dict[str, int] = {}
        for signal in ("spans", "logs"):
            out[f"exported {signal}"] = exported[signal]
            out[f"unexported {signal}"] = max(0, handed[signal] - exported[signal])
        return out


def _value(counter: itertools.count[int]) -> int:
    """How far ``counter`` has counted (``count(n)`` pickles as ``(count, (n,))``)."""
    reduced = cast(tuple[Any, tuple[int, ...]], counter.__reduce__())
    return reduced[1][0]


_ALL: weakref.WeakSet[Tally] = weakref.WeakSet()
_hooked = False


def _after_fork_in_child() -> None:
    for tally in list(_ALL):
        tally._after_fork()



class TallySpanExporter(SpanExporter):
    """Counts the spans ``exporter`` exported successfully."""

    def __init__(self, exporter: SpanExporter, tally: Tally) -> None:
        self._exporter = exporter
        self._tally = tally

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        result = self._exporter.export(spans)
        if result is SpanExportResult.SUCCESS:
            self._tally.took("spans", len(spans))
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)


class TallyLogExporter(LogRecordExporter):
    """Counts the log records ``exporter`` exported successfully."""

    def __init__(self, exporter: LogRecordExporter, tally: Tally) -> None:
        self._exporter = exporter
        self._tally = tally

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        result = self._exporter.export(batch)
        if result is LogRecordExportResult.SUCCESS:
            self._tally.took("logs", len(batch))
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._exporter.force_flush(timeout_millis))


class TallyLogProcessor(LogRecordProcessor):
    """First among liveobs's log record processors: counts each record handed to the export chain."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def on_emit(self, log_record: Any) -> None:
        self._tally.hand("logs")

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
