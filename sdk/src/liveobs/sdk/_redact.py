"""Redaction on every signal before it leaves the process.

:class:`FastScrubber` puts a cache and two provably safe fast paths in front of
:class:`liveobs.redaction.Scrubber`; :class:`Redactor` is the structlog
processor; :class:`RedactingSpanExporter` and :class:`RedactingLogRecordProcessor`
scrub span names, attributes, events, status messages, log bodies and log
attributes on their way to any exporter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Final

from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from liveobs.redaction import DEFAULT_SCRUBBER, Scrubber
from liveobs.sdk._span import VettedSpan

# Strings that no built-in rule can match: lower-case hex and dashes (uuids,
# trace ids, commit hashes: no upper case, so never "high entropy") and short
# words without whitespace, ``=``, ``:`` or ``@`` (every built-in pattern needs
# one of those or at least 15 characters).
_SAFE_TEXT: Final = re.compile(r"[0-9a-f\-]{0,128}|[A-Za-z0-9_./{}\-]{0,14}")
_CACHE_MAX_ITEMS: Final = 4096
_CACHE_MAX_LENGTH: Final = 256


class FastScrubber:
    """A :class:`Scrubber` with a bounded result cache and safe fast paths.

    Results equal ``scrubber.scrub*``; only the work differs. The fast paths are
    used only with the built-in value patterns (extra patterns could match
    anything).
    """

    def __init__(self, scrubber: Scrubber = DEFAULT_SCRUBBER, *, fast_paths: bool = True) -> None:
        self.scrubber = scrubber
        self._fast = fast_paths
        self._texts: dict[str, str] = {}
        self._keys: dict[str, bool] = {}

    def secret_key(self, key: str) -> bool:
        hit = self._keys.get(key)
        if hit is None:
            hit = self.scrubber.secret_key(key)
            if len(self._keys) < _CACHE_MAX_ITEMS:
                self._keys[key] = hit
        return hit

    def text(self, text: str) -> str:
        """``text`` without secrets."""
        hit = self._texts.get(text)
        if hit is not None:
            return hit
        out = text if self._fast and _SAFE_TEXT.fullmatch(text) else self.scrubber.scrub_text(text)
        if len(text) <= _CACHE_MAX_LENGTH:
            if len(self._texts) >= _CACHE_MAX_ITEMS:
                self._texts.clear()
            self._texts[text] = out
        return out

    def value(self, key: str | None, value: Any) -> Any:
        """``value`` stored under ``key``, scrubbed (recursively for containers)."""
        if key is not None and self.secret_key(key):
            return self.scrubber.scrub(value, key)
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.scrubber.scrub(value)

    def clean_mapping(self, mapping: Mapping[str, Any] | None) -> bool:
        """Whether scrubbing ``mapping`` would change nothing (cheap for cached values)."""
        if not mapping:
            return True
        texts = self._texts
        for k, v in mapping.items():
            if self.secret_key(k):
                return False
            if type(v) is str:
                hit = texts.get(v)
                if hit is None:
                    hit = self.text(v)
                if hit != v:
                    return False
            elif not isinstance(v, int | float | bool) and self.value(k, v) != v:
                return False
        return True

    def mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of a flat mapping of attributes."""
        return {k: self.value(k, v) for k, v in mapping.items()}

    def in_place(self, mapping: MutableMapping[str, Any]) -> None:
        """Scrub ``mapping``'s values where they stand, skipping clean ones."""
        for k, v in list(mapping.items()):
            if (isinstance(v, int | float | bool) or v is None) and not self.secret_key(k):
                continue
            cleaned = self.value(k, v)
            if cleaned is not v and cleaned != v:
                mapping[k] = cleaned


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


class RedactingSpanExporter(SpanExporter):
    """Wraps an exporter; every span it passes on has been scrubbed."""

    def __init__(self, exporter: SpanExporter, scrubber: FastScrubber | None = None) -> None:
        self.exporter = exporter
        self._scrub = scrubber or FastScrubber()

    def _clean(self, span: ReadableSpan) -> ReadableSpan:
        scrub = self._scrub
        if span.__class__ is VettedSpan and span.vetted_by is scrub and not span.events \
                and not span.status.description:
            return span  # a live event's span that nothing outside touched: checked when it was made
        if scrub.clean_mapping(span.attributes) and scrub.text(span.name) == span.name and not span.events and not (
            span.status.description
        ):
            return span  # the common case: nothing to remove, no copy
        status = span.status
        if status.description:
            status = Status(status.status_code, scrub.text(status.description))
        events = [
            Event(e.name, _scrub_attributes(scrub, e.attributes), e.timestamp) for e in span.events
        ]
        return ReadableSpan(
            name=scrub.text(span.name),
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=_scrub_attributes(scrub, span.attributes),
            events=events,
            links=span.links,
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


class RedactingLogRecordProcessor(LogRecordProcessor):
    """Scrubs each log record's body and attributes in place before later processors see it.

    Records from ``skip_scopes`` (the liveobs structlog bridge, which only
    emits scrubbed records) are passed over.
    """

    def __init__(self, scrubber: FastScrubber | None = None, skip_scopes: frozenset[str] = frozenset()) -> None:
        self._scrub = scrubber or FastScrubber()
        self._skip = skip_scopes

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        scope = log_record.instrumentation_scope
        if scope is not None and scope.name in self._skip:
            return
        record = log_record.log_record
        if record.body is not None:
            record.body = self._scrub.value(None, record.body)
        if record.attributes:
            self._scrub.in_place(record.attributes)  # type: ignore[arg-type]  # BoundedAttributes is mutable here

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
