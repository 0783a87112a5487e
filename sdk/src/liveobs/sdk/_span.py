"""A lean recording span for the middleware's own spans (live events, connections, requests).

The OpenTelemetry SDK's span validates every attribute through
``BoundedAttributes`` and takes a lock on each call; for the attributes the
middleware itself builds (validated ids, names and numbers) that work is
repeated for nothing and costs more than the rest of a live event. A
:class:`LeanSpan` keeps them in a plain dict and hands the span processors an
ordinary :class:`~opentelemetry.sdk.trace.ReadableSpan` at the end, so every
processor and exporter sees what an SDK span would have given it.

The tracer's sampler, id generator, resource, scope, span processors and the
SDK's own span metrics are honoured. Values set later (by the app or a span
processor) are cleaned as the SDK cleans them. Under a tracer that is not the
SDK's, a disabled tracer, a string length limit or an SDK version whose
internals :mod:`liveobs.sdk._compat` did not find, :func:`start_span` falls
back to ``tracer.start_span``. A failure of the lean path is counted, warned
about once and turns it off for that tracer; a span processor that raises is
counted and the span ends anyway.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, NoReturn

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util import BoundedList
from opentelemetry.semconv.attributes.exception_attributes import EXCEPTION_ESCAPED
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from liveobs.conventions import keys
from liveobs.sdk import _compat, _faults

_log = logging.getLogger(__name__)
_UNSET: Final = Status(StatusCode.UNSET)
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED: Final = TraceFlags(TraceFlags.DEFAULT)
_RANDOM: Final[int] = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)
_SAMPLED_RANDOM: Final = TraceFlags(_SAMPLED | _RANDOM)
_NOT_SAMPLED_RANDOM: Final = TraceFlags(_NOT_SAMPLED | _RANDOM)
_time_ns = time.time_ns
_get_current_span = trace.get_current_span
_INVALID_CONTEXT: Final = trace.INVALID_SPAN_CONTEXT


class _Lean:
    """What the lean path reads from one SDK tracer, looked up once through :mod:`liveobs.sdk._compat`."""

    __slots__ = (
        "default_sampler", "enabled", "fill", "limits", "metrics_start", "multi", "on_ending", "processors_of", "scope",
        "seen", "sole_end", "tracer",
    )

    def __init__(self, tracer: SdkTracer, found: _compat.Features, enabled: Callable[[], bool],
                 metrics_start: Callable[[Any, Any], Callable[[], None]]) -> None:
        self.tracer = tracer
        self.limits = _compat.span_limits(tracer)
        self.scope = _compat.tracer_scope(tracer)
        self.metrics_start = metrics_start
        self.on_ending = _compat.on_ending(tracer.span_processor, found)
        self.default_sampler = _compat.default_sampler(tracer.sampler)
        self.fill = found.fill_span
        self.enabled = None if enabled is _compat.always else enabled
        self.multi = tracer.span_processor
        self.processors_of = _compat.span_processors(self.multi, found)
        self.seen: tuple[Any, ...] | None = None
        self.sole_end: Callable[[ReadableSpan], None] | None = None

    def sole(self) -> Callable[[ReadableSpan], None] | None:
        """Where an ended lean span goes when the tracer's only processor takes lean spans directly, else ``None``.

        Such a processor (liveobs's own, ``lean_on_end``) has nothing to do when
        a lean span starts or is ending: the SDK's processor chain is skipped.
        Read again on every span: a processor added later is called as usual.
        """
        get = self.processors_of
        if get is None:
            return None
        processors = get(self.multi)
        if processors is not self.seen:
            self.seen = processors
            sole = processors[0] if len(processors) == 1 else None
            self.sole_end = getattr(sole, "lean_on_end", None)
        return self.sole_end


# By id(tracer), with the tracer itself so the id cannot be taken by another (tracers are few and long-lived);
# None when the tracer's type, its internals or its span limits rule the lean path out.
_modes: dict[int, tuple[trace.Tracer, _Lean | None]] = {}


def _lean_for(tracer: trace.Tracer) -> _Lean | None:
    found = _compat.features()
    if not found.lean_tracer or not isinstance(tracer, SdkTracer):
        return None
    metrics_start = _compat.span_metrics_start(tracer, found)
    enabled = _compat.tracer_enabled(tracer, found)
    if metrics_start is None or enabled is None:
        return None
    limits = _compat.span_limits(tracer)
    if limits.max_span_attribute_length is not None or (limits.max_span_attributes or 0) < 32:
        return None
    return _Lean(tracer, found, enabled, metrics_start)


def _lean(tracer: trace.Tracer) -> _Lean | None:
    hit = _modes.get(id(tracer))
    if hit is not None and hit[0] is tracer:
        lean = hit[1]
    else:
        try:
            lean = _lean_for(tracer)
        except Exception as error:  # an internal that changed: this tracer takes the SDK path
            _faults.fault(_faults.SPAN, error)
            lean = None
        if len(_modes) >= 1024:
            _modes.clear()
        _modes[id(tracer)] = (tracer, lean)
    if lean is None or (lean.enabled is not None and not lean.enabled()):
        return None
    return lean


def _turn_off(tracer: trace.Tracer, error: BaseException) -> None:
    """The lean path failed for ``tracer``: count it, warn once, and use the SDK's spans from now on."""
    _faults.fault(_faults.SPAN, error)
    _modes[id(tracer)] = (tracer, None)


def lean_tracer(tracer: trace.Tracer) -> bool:
    """Whether :func:`start_span` can take the lean path for ``tracer``."""
    try:
        return _lean(tracer) is not None
    except Exception as error:
        _turn_off(tracer, error)
        return False


def start_span(
    tracer: trace.Tracer,
    name: str,
    *,
    context: Context | None,
    kind: SpanKind,
    attributes: dict[str, Any],
    links: Sequence[Link] = (),
    start_time: int | None = None,
    vetted_by: object = None,
) -> Span:
    """Start a span for the middleware; ``attributes`` (str, int, float, bool values) is owned by the span.

    ``links`` must be valid links whose attributes were built by the caller.
    ``vetted_by`` is the scrubber that found the name and ``attributes``
    unchanged, if the caller checked them: the span ends as a
    :class:`VettedSpan` unless anything else is set on it. Never raises
    because of liveobs: a failure of the lean path turns it off for the tracer.
    """
    try:
        lean = _lean(tracer)
        if lean is not None:
            return _start_lean(lean, name, context, kind, attributes, links, start_time, vetted_by)
    except Exception as error:  # an internal that changed since detection
        _turn_off(tracer, error)
    return tracer.start_span(name, context=context, kind=kind, attributes=attributes, links=links,
                             start_time=start_time)


def _start_lean(
    lean: _Lean, name: str, context: Context | None, kind: SpanKind, attributes: dict[str, Any],
    links: Sequence[Link], start_time: int | None, vetted_by: object,
) -> Span:
    tracer = lean.tracer
    # An empty context has no span (the new trace of a live event): its parent is known without a look-up.
    parent = _INVALID_CONTEXT if context is not None and not context else _get_current_span(context).get_span_context()
    if parent is not _INVALID_CONTEXT and parent.is_valid:
        trace_id = parent.trace_id
        random_id = bool(parent.trace_flags & _RANDOM)
        parent_context: SpanContext | None = parent
    else:
        trace_id = tracer.id_generator.generate_trace_id()
        random_id = bool(_RANDOM) and tracer.id_generator.is_trace_id_random()
        parent_context = None
    if lean.default_sampler:  # what the default sampler answers
        sample = parent_context is None or parent.trace_flags.sampled
        decision = Decision.RECORD_AND_SAMPLE if sample else Decision.DROP
        trace_state = parent.trace_state if parent_context is not None else None
    else:
        result = tracer.sampler.should_sample(context, trace_id, name, kind, attributes, links)
        decision, trace_state = result.decision, result.trace_state
        sampled = result.attributes
        if decision is not Decision.DROP and sampled != attributes:
            attributes = _compat.clean_attributes(sampled or {})  # the sampler changed them
    sampled_flags = decision is Decision.RECORD_AND_SAMPLE
    if random_id:
        flags = _SAMPLED_RANDOM if sampled_flags else _NOT_SAMPLED_RANDOM
    else:
        flags = _SAMPLED if sampled_flags else _NOT_SAMPLED
    span_context = SpanContext(trace_id, tracer.id_generator.generate_span_id(), False, flags, trace_state)
    on_end_metrics = lean.metrics_start(parent_context, decision)
    if decision is Decision.DROP:
        return trace.NonRecordingSpan(span_context)
    span = LeanSpan(lean, name, span_context, parent_context, kind, attributes, links, on_end_metrics)
    span._start_time = start_time if start_time is not None else _time_ns()
    span._vetted = vetted_by
    if lean.sole() is None:
        try:
            tracer.span_processor.on_start(span, parent_context=context)  # type: ignore[arg-type]  # reads it like a Span
        except Exception as error:  # a processor's bug: the span and the app go on
            _faults.fault(_faults.SPAN_PROCESSOR, error)
    return span


class LeanSpan(Span):
    """A recording span whose own attributes live in a plain dict; see the module docstring."""

    __slots__ = (
        "_attributes",
        "_dropped",
        "_end_time",
        "_events",
        "_kind",
        "_lean",
        "_links",
        "_metrics_end",
        "_name",
        "_parent",
        "_span_context",
        "_start_time",
        "_status",
        "_vetted",
    )

    def __init__(
        self,
        lean: _Lean,
        name: str,
        span_context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        links: Sequence[Link],
        metrics_end: Any,
    ) -> None:
        self._lean = lean
        self._name = name
        self._span_context = span_context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._links = links
        self._metrics_end = metrics_end
        self._events: BoundedList[Event] | None = None
        self._status = _UNSET
        self._start_time = 0
        self._end_time: int | None = None
        self._dropped = 0
        self._vetted: object = None

    # --- what processors and the app read ---------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> SpanKind:
        return self._kind

    @property
    def attributes(self) -> Mapping[str, types.AnyValue]:
        return MappingProxyType(self._attributes)

    @property
    def start_time(self) -> int:
        return self._start_time

    @property
    def end_time(self) -> int | None:
        return self._end_time

    @property
    def status(self) -> Status:
        return self._status

    @property
    def parent(self) -> SpanContext | None:
        return self._parent

    @property
    def resource(self) -> Any:
        return self._lean.tracer.resource

    @property
    def instrumentation_scope(self) -> Any:
        return self._lean.scope

    @property
    def context(self) -> SpanContext:
        return self._span_context

    def get_span_context(self) -> SpanContext:
        return self._span_context

    def is_recording(self) -> bool:
        return self._end_time is None

    def __repr__(self) -> str:
        return f'LeanSpan(name="{self._name}", context={self._span_context})'

    # --- the Span API -------------------------------------------------------------
    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is not None:
            _log.warning("Setting attribute on ended span.")
            return
        if not key or not isinstance(key, str):
            _log.warning("invalid key `%s`. must be non-empty string. Dropping key from attributes.", key)
            self._dropped += 1
            return
        attributes = self._attributes
        if key not in attributes and len(attributes) >= (self._lean.limits.max_span_attributes or 0):
            self._dropped += 1  # the SDK drops the oldest; a full span here keeps the ids it started with
            return
        if value.__class__ not in (str, int, float, bool):
            value = _compat.clean_value(key, value)
            if value is None:
                self._dropped += 1  # a value the SDK refuses (it warned)
                return
        attributes[key] = value
        self._vetted = None  # set from outside: the exporter's scrubber looks at it

    def set_number(self, key: str, value: int) -> None:
        """``set_attribute`` for the middleware's own counts: a valid key and an ``int``, nothing to clean."""
        attributes = self._attributes
        if self._end_time is None and (
            key in attributes or len(attributes) < (self._lean.limits.max_span_attributes or 0)
        ):
            attributes[key] = value
        else:
            self.set_attribute(key, value)  # ended or full: warned about and counted as set_attribute does

    def set_numbers(self, first: str, one: int, second: str, other: int) -> None:
        """:meth:`set_number` for two counts at once (a reply's raw and compressed sizes)."""
        attributes = self._attributes
        if self._end_time is None and len(attributes) + 2 <= (self._lean.limits.max_span_attributes or 0):
            attributes[first] = one
            attributes[second] = other
        else:
            self.set_number(first, one)
            self.set_number(second, other)

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self._end_time is not None:
            _log.warning("Tried calling add_event on an ended span.")
            return
        limits = self._lean.limits
        if self._events is None:
            self._events = BoundedList(limits.max_events)
        self._events.append(Event(
            name,
            BoundedAttributes(limits.max_event_attributes, attributes, immutable=True,
                              max_value_len=limits.max_attribute_length),
            timestamp if timestamp is not None else _time_ns(),
        ))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end_time is not None or not (context and (context.is_valid or attributes or context.trace_state)):
            return
        limits = self._lean.limits
        bounded = BoundedAttributes(limits.max_link_attributes, attributes, immutable=True,
                                    max_value_len=limits.max_attribute_length)
        self._links = [*self._links, Link(context, bounded)][: limits.max_links]

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name
            self._vetted = None

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        # The attributes the SDK span records, in its order.
        cls = type(exception)
        module = cls.__module__
        event: dict[str, types.AnyValue] = {
            keys.EXCEPTION_TYPE: f"{module}.{cls.__qualname__}" if module and module != "builtins" else cls.__qualname__,
            keys.EXCEPTION_MESSAGE: str(exception),
            keys.EXCEPTION_STACKTRACE: "".join(traceback.format_exception(exception)),
            EXCEPTION_ESCAPED: str(escaped),
        }
        if attributes:
            event.update(attributes)
        self.add_event(keys.EXCEPTION_EVENT, event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            _log.warning("Calling end() on an ended span.")
            return
        self._end_time = end_time if end_time is not None else _time_ns()
        lean = self._lean
        try:
            self._metrics_end()
            ended = self._readable(lean)
        except Exception as error:  # the lean path broke: the SDK's spans from now on
            _turn_off(lean.tracer, error)
            return
        try:
            sole = lean.sole()
            if sole is not None:
                sole(ended)
                return
            if lean.on_ending is not None:
                lean.on_ending(self)
            lean.tracer.span_processor.on_end(ended)
        except Exception as error:  # a processor's bug: the app's event goes on
            _faults.fault(_faults.SPAN_PROCESSOR, error)

    def _readable(self, lean: _Lean) -> ReadableSpan:
        tracer = lean.tracer
        attributes: Any = self._attributes
        if self._dropped:
            attributes = BoundedAttributes(None, attributes, immutable=True)
            attributes.dropped = self._dropped
        ended = _compat.readable_span(
            ReadableSpan if self._vetted is None else VettedSpan, lean.fill, self._name, self._span_context,
            self._parent, tracer.resource, attributes, self._events if self._events is not None else (),
            self._links, self._kind, tracer.instrumentation_info, self._status, self._start_time, self._end_time,
            lean.scope,
        )
        if self._vetted is not None:
            ended.vetted_by = self._vetted  # type: ignore[attr-defined]  # a VettedSpan, typed as its base here
        return ended


class VettedSpan(ReadableSpan):
    """An ended span whose name and attributes the scrubber ``vetted_by`` found unchanged when they were set.

    Its events and status are not covered: an exporter's scrubber still reads those.
    """

    vetted_by: object = None


_FLAGS_HEX: Final = tuple(f"{i:02x}" for i in range(256))
# The span context seen last, with its ids in hex: an event's log lines and its reply share it.
_last_hex: tuple[SpanContext | None, tuple[str, str, str]] = (None, ("", "", ""))


def hex_ids(context: SpanContext) -> tuple[str, str, str]:
    """``context``'s trace id, span id and flags as the logs and replies write them (32, 16 and 2 hex digits)."""
    global _last_hex
    last, fields = _last_hex
    if context is not last:
        # Ids are 128 and 64 bits: their big-endian bytes in hex are the zero-padded hex the formats would give.
        fields = (context.trace_id.to_bytes(16, "big").hex(), context.span_id.to_bytes(8, "big").hex(),
                  _FLAGS_HEX[context.trace_flags & 0xFF])
        _last_hex = (context, fields)
    return fields


class FrozenAttributes(dict[str, Any]):
    """A link's attributes: a plain dict (the exporter's scrubber reads it at C speed) that refuses every change.

    The SDK's ``BoundedAttributes`` is read through the ``Mapping`` ABC, several
    times slower; a copy (``copy.deepcopy``, pickling) is a new frozen dict.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a link's attributes are read-only")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[FrozenAttributes], tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))


def link(context: SpanContext, attributes: Mapping[str, types.AnyValue]) -> Link:
    """A link to reuse across spans: its attributes cleaned as the SDK cleans them, read-only."""
    return Link(context, FrozenAttributes(_compat.clean_attributes(attributes)))
