"""liveobs evidence side: collector, store, correlation queries, gates."""

from liveobs.correlator._incidents import Incident
from liveobs.correlator._remote import RemoteStore
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

__all__: list[str] = [
    "AmbiguousIdError",
    "ErrorOccurrence",
    "Incident",
    "LocalStore",
    "LogLine",
    "RemoteStore",
    "SessionEvent",
    "Span",
    "SpanEvent",
    "Store",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "TimelineEntry",
    "TraceResult",
    "open",
]
