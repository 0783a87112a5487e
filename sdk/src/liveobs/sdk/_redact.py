"""Redaction on every signal before it leaves the process.

:class:`FastScrubber` is the shared cached scrubber; :class:`Redactor` is the
structlog processor; :class:`RedactingSpanExporter` scrubs every span's name,
attributes, event attributes, link attributes and status message on its way
to any exporter, whatever made the span (no flag lets one skip it; a clean span
costs one cache lookup per value and is passed on uncopied);
:class:`RedactingLogRecordProcessor` and :class:`RedactingLogRecordExporter`
do the same for log bodies and attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Final

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from liveobs.redaction import HEX_ID_CHARS, CachedScrubber, Scrubber
from liveobs.sdk._compat import (
    LogRecordExporter,
    LogRecordExportResult,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)


class FastScrubber(CachedScrubber):
    """The SDK's name for the shared :class:`~liveobs.redaction.CachedScrubber`.

    One implementation and one cache policy with the collector: clean texts
    only, bounded in bytes, two provably safe fast paths under the built-in
    rules. One difference: the ids the fast path passes (hex and dashes) are
    remembered as clean too. The collector sees an id once; the SDK checks
    each id it takes in again on every span and log record that carries it
    at export, where a lookup costs a fraction of the check.
    """

    def text(self, text: str) -> str:
        texts = self._texts
        hit = texts.get(text)
        if hit is not None:
            return hit
        if self._fast and len(text) <= 128 and not text.strip(HEX_ID_CHARS):  # the shared fast path's answer
            if self._charge(text):
                texts[text] = text  # clean, and short: what the cache may hold
            return text
        return super().text(text)

    def clean_mapping(self, mapping: Mapping[str, Any] | None) -> bool:
        """Whether scrubbing ``mapping`` would change nothing: the shared check, with a shorter first pass.

        Under the built-in rules, a mapping whose keys are all known plain and
        whose values are each a cached clean text or a plain scalar is clean
        (the SDK's cache holds the ids it passed too); anything else takes the
        shared check.
        """
        if mapping and self._fast and self._plain_keys.issuperset(mapping):
            texts = self._texts
            try:
                for v in mapping.values():
                    if v not in texts and v.__class__ not in _SCALAR_CLASSES:
                        break
                else:
                    return True
            except TypeError:  # an unhashable value: the shared check looks at it
                pass
        return super().clean_mapping(mapping)


# Values that are clean whatever they hold, under a key that names no secret.
_SCALAR_CLASSES: Final = frozenset({int, float, bool, type(None)})


# Fields the structlog chain itself writes (level, timestamp, trace context in hex).
_GENERATED_FIELDS: Final = frozenset({"level", "timestamp", "trace_id", "span_id", "trace_flags"})


class Redactor:
    """structlog processor: scrub every field and the event text (and rendered tracebacks).

    Place it after ``format_exc_info``/``dict_tracebacks`` so exception text is
    scrubbed too, and before any renderer or the OTel log bridge.
    """

    def __init__(self, scrubber: FastScrubber | Scrubber | None = None) -> None:
        if scrubber is None:
            scrubber = FastScrubber()
        self._scrub = scrubber if isinstance(scrubber, FastScrubber) else FastScrubber(scrubber, fast_paths=False)

    def __call__(self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        scrub = self._scrub
        texts = scrub._texts
        for k, v in list(event_dict.items()):
            if k in _GENERATED_FIELDS:
                continue
            if type(v) is str and v in texts and not scrub.secret_key(k):
                cleaned = texts[v]
            elif (isinstance(v, int | float | bool) or v is None) and not scrub.secret_key(k):
                continue
            else:
                cleaned = scrub.value(k, v)
            if cleaned is not v:
                event_dict[k] = cleaned
        return event_dict


def _scrub_attributes(scrub: FastScrubber, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not attributes:
        return None
    cleaned = scrub.mapping(attributes)
    for k, v in cleaned.items():
        if isinstance(v, list):  # OTel attribute values are scalars or homogeneous sequences
            cleaned[k] = tuple(v)
    return cleaned


def _clean_span(scrub: FastScrubber, span: ReadableSpan, status: Status, events: Sequence[Event],
                links: Sequence[Link]) -> bool:
    """Whether scrubbing would leave ``span`` as it is: every name, attribute and message checked."""
    clean, texts = scrub.clean_mapping, scrub._texts
    name = span.name
    if not clean(span.attributes) or (name not in texts and scrub.text(name) != name):
        return False
    if status.description and scrub.text(status.description) != status.description:
        return False
    for event in events:
        if not clean(event.attributes) or scrub.text(event.name) != event.name:
            return False
    for link in links:  # noqa: SIM110  # a plain loop: no generator made for every span
        if not clean(link.attributes):
            return False
    return True


class RedactingSpanExporter(SpanExporter):
    """Wraps an exporter; every span it passes on has been scrubbed."""

    def __init__(self, exporter: SpanExporter, scrubber: FastScrubber | None = None) -> None:
        self.exporter = exporter
        self._scrub = scrubber or FastScrubber()

    def _clean(self, span: ReadableSpan) -> ReadableSpan:
        scrub = self._scrub
        status = span.status
        events, links = span.events, span.links
        if _clean_span(scrub, span, status, events, links):
            return span  # the common case: nothing to remove, no copy
        if status.description:
            status = Status(status.status_code, scrub.text(status.description))
        cleaned_events = [Event(scrub.text(e.name), _scrub_attributes(scrub, e.attributes), e.timestamp) for e in events]
        cleaned_links = [Link(link.context, _scrub_attributes(scrub, link.attributes)) for link in links]
        return ReadableSpan(
            name=scrub.text(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=_scrub_attributes(scrub, span.attributes),
            events=cleaned_events,
            links=cleaned_links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([self._clean(s) for s in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def _scrub_record(scrub: FastScrubber, record: Any) -> None:
    body = record.body
    if body is not None and not (body.__class__ is str and body in scrub._texts):
        cleaned = scrub.value(None, body)
        if cleaned is not body:
            record.body = cleaned
    attributes = record.attributes
    if attributes and not scrub.clean_mapping(attributes):
        try:
            scrub.in_place(attributes)
        except TypeError:  # an immutable BoundedAttributes: replace it whole
            record.attributes = scrub.mapping(attributes)


class RedactingLogRecordProcessor(LogRecordProcessor):
    """Scrubs each log record's body and attributes in place before later processors see it.

    Every record is scrubbed, whatever its scope (``skip_scopes`` is accepted for
    compatibility and ignored): a record that is already clean costs one cache
    lookup per value.
    """

    def __init__(self, scrubber: FastScrubber | None = None, skip_scopes: frozenset[str] = frozenset()) -> None:
        self._scrub = scrubber or FastScrubber()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        _scrub_record(self._scrub, log_record.log_record)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class RedactingLogRecordExporter(LogRecordExporter):
    """Wraps a log exporter; every record it passes on has been scrubbed, whichever path queued it."""

    def __init__(self, exporter: LogRecordExporter, scrubber: FastScrubber | None = None) -> None:
        self.exporter = exporter
        self._scrub = scrubber or FastScrubber()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        scrub = self._scrub
        texts, clean = scrub._texts, scrub.clean_mapping
        for readable in batch:
            record = readable.log_record
            body = record.body
            # The common record: a cached (clean) text body and clean attributes, checked here in place.
            if (body is None or (body.__class__ is str and body in texts)) and clean(record.attributes):
                continue
            _scrub_record(scrub, record)
        return self.exporter.export(batch)

    def shutdown(self) -> None:
        self.exporter.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
