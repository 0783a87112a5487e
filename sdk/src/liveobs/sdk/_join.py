"""liveobs's span processor: other instrumentations' spans join the live event or request they belong to.

:class:`LiveObsSpanProcessor` is the one processor liveobs adds to a tracer
provider, its own or one the app installed. It

* copies the liveobs ids in effect (session, request, event, route,
  connection) onto every span another instrumentation starts (FastAPI's own,
  ``opentelemetry-instrumentation-asgi``, a database client);
* when such a span ends failed by an exception liveobs saw (or is about to
  see) in a live event or request, records that failure on the liveobs span
  and gives the exported copy the same ``liveobs.error.fingerprint``, so one
  crash is one incident;
* hands every ended span to liveobs's export chain, with liveobs's resource
  when the provider is the app's, and counts what it handed on;
* stops forwarding when its :class:`~liveobs.sdk.Telemetry` shuts down (a
  processor cannot be removed from a provider), and can be pointed at a new
  export chain by the next ``configure()``.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import Span, StatusCode

from liveobs.sdk._compat import LogRecordProcessor
from liveobs.sdk._context import _CURRENT
from liveobs.sdk._span import LeanSpan, VettedSpan

# The failure recorder of the HTTP request being handled: (exception) -> (error class, fingerprint).
OWN_SCOPE: Final = "liveobs.sdk"
REQUEST_FAILURE: Final[contextvars.ContextVar[Callable[[BaseException], tuple[str, str]] | None]] = \
    contextvars.ContextVar("liveobs_request_failure", default=None)


_MARK: Final = "_liveobs_failure"
# The failure liveobs named last in this context, and when.
_LAST_FAILURE: Final[contextvars.ContextVar[tuple[BaseException, int] | None]] = \
    contextvars.ContextVar("liveobs_last_failure", default=None)


def mark_failure(exc: BaseException, attributes: dict[str, str]) -> None:
    """Remember on the exception itself how liveobs named it (its fingerprint).

    Instrumentations that enclose liveobs end their spans and write their logs
    after liveobs has finished, while the same exception object passes by:
    their exported copies then name the failure as liveobs did. (Not the event
    id: an enclosing span belongs to the connection's trace, not the event's.)
    """
    try:
        mark = exc.__dict__.setdefault(_MARK, {})
        for key, value in attributes.items():
            mark.setdefault(key, value)
    except (AttributeError, TypeError):  # an exception type without a __dict__
        return
    _LAST_FAILURE.set((exc, time.time_ns()))


def _failure_of(span: ReadableSpan) -> BaseException | None:
    """The exception that made ``span`` fail, if liveobs can tell: the one being handled, or else the one
    liveobs named last in this context while the span was open (an enclosing span ends after liveobs is done)."""
    exc = sys.exc_info()[1]
    if exc is not None:
        return exc
    last = _LAST_FAILURE.get()
    if last is None or span.start_time is None or last[1] < span.start_time:
        return None
    for event in span.events:
        if event.name == "exception":
            message = (event.attributes or {}).get("exception.message")
            return last[0] if message == str(last[0]) else None
    return last[0]


def failure_mark(exc: BaseException) -> dict[str, str] | None:
    mark = getattr(exc, "__dict__", {}).get(_MARK)
    return mark if isinstance(mark, dict) else None


def _failure_attributes(exc: BaseException) -> dict[str, str] | None:
    """How liveobs named ``exc``, recording it on the live event or request in this context if it has not yet."""
    mark = failure_mark(exc)
    if mark is not None:
        return mark
    from liveobs.sdk._live import current_event  # the live event module builds on this one

    recorder = current_event()
    if recorder is not None:
        recorder.record(exc)
    else:
        fail = REQUEST_FAILURE.get()
        if fail is None:
            return None
        fail(exc)
    return failure_mark(exc)


def restamped(span: ReadableSpan, extra: dict[str, Any], resource: Resource | None) -> ReadableSpan:
    """A copy of an ended span with ``extra`` attributes (those it lacks) and another resource."""
    attributes = dict(span.attributes or {})
    for key, value in extra.items():
        attributes.setdefault(key, value)
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=resource or span.resource,
        attributes=attributes, events=span.events, links=span.links, kind=span.kind,
        status=span.status, start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )


def _foreign(span: ReadableSpan) -> bool:
    """Whether another instrumentation made ``span`` (liveobs's own carry its ids and failures already)."""
    scope = span.instrumentation_scope
    return scope is None or scope.name != OWN_SCOPE


class LiveObsLogProcessor(LogRecordProcessor):
    """First of liveobs's log record processors: other instrumentations' records get the ids and the failure's name.

    The structlog bridge's own records carry them already and skip processors.
    """

    def on_emit(self, log_record: Any) -> None:
        try:
            record = log_record.log_record
            extra = dict(_CURRENT.get().attributes)
            exc = sys.exc_info()[1]
            if exc is not None:
                named = failure_mark(exc)
                if named:
                    extra.update(named)
            if not extra:
                return
            attributes = record.attributes
            if attributes is None:
                record.attributes = extra
                return
            for key, value in extra.items():
                if key not in attributes:
                    attributes[key] = value
        except Exception:
            pass  # the record goes on as it was

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class LiveObsSpanProcessor(SpanProcessor):
    """See the module docstring. ``export`` is liveobs's export processor (``None``: export nothing)."""

    def __init__(self, export: SpanProcessor | None, resource: Resource | None = None) -> None:
        self._export = export
        self._resource = resource
        self._lock = threading.Lock()
        self.handed = 0  # ended spans passed to the export processor
        self.failures = 0

    def attach(self, export: SpanProcessor | None, resource: Resource | None) -> None:
        """Forward to a new export chain from now on (the next ``configure()`` on a joined provider)."""
        self._export, self._resource = export, resource

    def detach(self) -> None:
        self._export = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.__class__ is LeanSpan:  # liveobs's own: its ids are set already
            return
        ids = _CURRENT.get().attributes
        if not ids:
            return
        try:
            own = getattr(span, "attributes", None) or {}
            missing = {k: v for k, v in ids.items() if k not in own}
            if missing:
                span.set_attributes(missing)
        except Exception:
            self.failures += 1

    def on_end(self, span: ReadableSpan) -> None:
        export = self._export
        if export is None:
            return
        if self._resource is not None or (span.__class__ is not VettedSpan and _foreign(span)):
            try:
                span = self._joined(span)
            except Exception:
                self.failures += 1
        self.handed += 1
        export.on_end(span)

    def lean_on_end(self, span: ReadableSpan) -> None:
        """:meth:`on_end` of liveobs's own lean span while this is its provider's only processor.

        The lean span path calls it instead of the provider's processor chain
        (this processor does nothing when a lean span starts or is ending).
        """
        if self._resource is not None:  # a joined provider's spans take liveobs's resource
            self.on_end(span)
            return
        export = self._export
        if export is not None:
            self.handed += 1
            export.on_end(span)

    def _joined(self, span: ReadableSpan) -> ReadableSpan:
        extra: dict[str, Any] = {}
        if span.status.status_code is StatusCode.ERROR or span.events:
            exc = _failure_of(span)
            named = _failure_attributes(exc) if exc is not None else None
            if named:
                extra.update(named)
        if not extra and self._resource is None:
            return span
        return restamped(span, extra, self._resource)

    def shutdown(self) -> None:
        export, self._export = self._export, None
        if export is not None:
            export.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        export = self._export
        return export.force_flush(timeout_millis) if export is not None else True
