"""liveobs evidence side: collector, store, correlation queries, gates."""

from liveobs.correlator import gates  # the release gates; registers the "check" read handler
from liveobs.correlator._auth import load_token
from liveobs.correlator._collector import Collector, discovery_path, read_discovery
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

__all__: list[str] = [
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
