"""liveobs evidence side: collector, store, correlation queries, gates.

Names are imported on first use (PEP 562), so ``liveobs trace`` does not load
the collector's server and writer, nor the gates, just to read a store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from liveobs.correlator import gates
    from liveobs.correlator._auth import load_token
    from liveobs.correlator._collector import Collector
    from liveobs.correlator._discovery import discovery_path, read_discovery
    from liveobs.correlator._incidents import Incident
    from liveobs.correlator._ingest import FileReport, IngestError, ingest_files
    from liveobs.correlator._readapi import NotFoundError, ReadRequestError
    from liveobs.correlator._remote import RemoteStore
    from liveobs.correlator._render_html import render_html
    from liveobs.correlator._store import LocalStore, Store, StoreNotFoundError, StoreUnavailableError, open
    from liveobs.correlator._trace import AmbiguousIdError
    from liveobs.correlator._traceresult import (
        ErrorOccurrence,
        LogLine,
        SessionEvent,
        Span,
        SpanEvent,
        TimelineEntry,
        TraceResult,
    )
    from liveobs.correlator._writer import Writer, WriteResult

# public name -> the module that defines it
_WHERE: Final[dict[str, str]] = {
    "AmbiguousIdError": "_trace",
    "Collector": "_collector",
    "ErrorOccurrence": "_traceresult",
    "FileReport": "_ingest",
    "Incident": "_incidents",
    "IngestError": "_ingest",
    "LocalStore": "_store",
    "LogLine": "_traceresult",
    "NotFoundError": "_readapi",
    "ReadRequestError": "_readapi",
    "RemoteStore": "_remote",
    "SessionEvent": "_traceresult",
    "Span": "_traceresult",
    "SpanEvent": "_traceresult",
    "Store": "_store",
    "StoreNotFoundError": "_store",
    "StoreUnavailableError": "_store",
    "TimelineEntry": "_traceresult",
    "TraceResult": "_traceresult",
    "WriteResult": "_writer",
    "Writer": "_writer",
    "discovery_path": "_discovery",
    "ingest_files": "_ingest",
    "load_token": "_auth",
    "open": "_store",
    "read_discovery": "_discovery",
    "render_html": "_render_html",
}

__all__ = [
    "AmbiguousIdError",
    "Collector",
    "ErrorOccurrence",
    "FileReport",
    "Incident",
    "IngestError",
    "LocalStore",
    "LogLine",
    "NotFoundError",
    "ReadRequestError",
    "RemoteStore",
    "SessionEvent",
    "Span",
    "SpanEvent",
    "Store",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "TimelineEntry",
    "TraceResult",
    "WriteResult",
    "Writer",
    "discovery_path",
    "gates",
    "ingest_files",
    "load_token",
    "open",
    "read_discovery",
    "render_html",
]


def __getattr__(name: str) -> Any:
    if name == "gates":
        return importlib.import_module("liveobs.correlator.gates")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'liveobs.correlator' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"liveobs.correlator.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
