"""Input from outside the process: which ids and ``traceparent`` values liveobs takes, and the parent of its spans.

A ``traceparent`` from the network is a parent only for trusted callers
(:class:`TrustPolicy`); otherwise the span starts a new trace linked to it. A
span another instrumentation in this process made current (FastAPI's own,
``opentelemetry-instrumentation-asgi``) is always the parent: the request is
one trace, whoever started it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags

from liveobs.conventions import TraceParent, format_traceparent, keys, parse_traceparent, valid_id
from liveobs.sdk._faults import SCRUBBER, fault
from liveobs.sdk._redact import FastScrubber
from liveobs.sdk._span import link

TrustSetting = bool | Callable[[Mapping[str, Any]], bool] | Iterable[str]
_UNTRUSTED: Final = {keys.LINK_KIND: "untrusted_parent"}


def accept_id(value: object, scrub: FastScrubber) -> str | None:
    """An id from outside if it is well-formed and looks like no secret, else ``None``."""
    checked = valid_id(value)
    if checked is None or not unchanged(scrub, checked):
        return None
    return checked


def unchanged(scrub: FastScrubber, text: str) -> bool:
    """Whether the scrubber leaves ``text`` as it is.

    A scrubber that raises vets nothing: the caller drops or replaces the value
    (an id from outside is minted anew), the failure is counted and warned
    about once, and the app's call goes on.
    """
    try:
        return scrub.text(text) == text
    except Exception as error:
        fault(SCRUBBER, error)
        return False


def clean(scrub: FastScrubber, mapping: Mapping[str, Any] | None) -> bool:
    """Whether the scrubber leaves every value of ``mapping`` as it is; ``False`` (counted) if it raises."""
    try:
        return scrub.clean_mapping(mapping)
    except Exception as error:
        fault(SCRUBBER, error)
        return False


class TrustPolicy:
    """Decides whether an incoming ``traceparent`` may become the parent of our spans.

    ``False`` (the default) trusts nobody, ``True`` everybody; a callable
    ``(scope) -> bool`` decides itself; an iterable of networks
    (``"10.0.0.0/8"``) trusts clients whose address is inside one.
    """

    def __init__(self, setting: TrustSetting = False) -> None:
        self._fixed: bool | None = None
        self._check: Callable[[Mapping[str, Any]], bool] | None = None
        self._networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
        if isinstance(setting, bool):
            self._fixed = setting
        elif callable(setting):
            self._check = setting
        else:
            self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in setting)

    def trusted(self, scope: Mapping[str, Any]) -> bool:
        if self._fixed is not None:
            return self._fixed
        if self._check is not None:
            try:
                return bool(self._check(scope))
            except Exception:
                return False
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except (ValueError, TypeError, IndexError):
            return False
        return any(address in net for net in self._networks)


def remote_span_context(parent: TraceParent) -> SpanContext:
    return SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(parent.flags & 0xFF),
    )


# A new trace's parent: the empty context (contexts are never changed, only copied).
NO_PARENT: Final = Context()


def parent_and_links(
    raw_traceparent: object, trusted: bool, extra_links: list[Link] | None = None
) -> tuple[Context, list[Link]]:
    """The parent context (empty: a new trace) and links for a span started from outside input."""
    links = extra_links or []
    parent = parse_traceparent(raw_traceparent) if not isinstance(raw_traceparent, TraceParent) else raw_traceparent
    if parent is None:
        return NO_PARENT, links
    remote = remote_span_context(parent)
    if trusted:
        return trace.set_span_in_context(NonRecordingSpan(remote), Context()), links
    return NO_PARENT, [*links, link(remote, _UNTRUSTED)]


_PROPAGATED: Final = (b"traceparent", b"tracestate")


def propagate_inward(scope: Any, span: trace.Span) -> None:
    """Make ``span`` the ``traceparent`` the app sees in ``scope``'s headers.

    Instrumentations inside the app that start from the request's headers
    alone (FastAPI's own telemetry, ``propagate.extract``) then continue the
    trace liveobs began instead of starting another, and a ``traceparent`` the
    middleware did not trust reaches no inner span either.
    """
    context = span.get_span_context()
    if not context.is_valid:
        return
    headers = [(k, v) for k, v in scope.get("headers") or () if k not in _PROPAGATED]
    headers.append((b"traceparent", format_traceparent(context.trace_id, context.span_id, context.trace_flags).encode()))
    scope["headers"] = headers


def enclosing_span() -> trace.Span | None:
    """The recording span another instrumentation in this process made current around the middleware, if any."""
    span = trace.get_current_span()
    context = span.get_span_context()
    return span if context.is_valid and not context.is_remote and span.is_recording() else None


def parent_within(enclosing: trace.Span | None, raw_traceparent: object, trusted: bool,
                  extra_links: list[Link] | None = None) -> tuple[Context, list[Link]]:
    """:func:`parent_and_links`, but a child of ``enclosing`` when another instrumentation's span is current."""
    if enclosing is None:
        return parent_and_links(raw_traceparent, trusted, extra_links)
    return otel_context.get_current(), extra_links or []
