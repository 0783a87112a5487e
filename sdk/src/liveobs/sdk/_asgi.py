"""Small readers of an ASGI scope: headers, route template, client address, trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags

from liveobs.conventions import TraceParent, keys, parse_traceparent, valid_id, valid_route
from liveobs.sdk._redact import FastScrubber
from liveobs.sdk._span import link

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
TrustSetting = bool | Callable[[Mapping[str, Any]], bool] | Iterable[str]
_MAX_HEADER_SCAN: Final = 256
_UNTRUSTED: Final = {keys.LINK_KIND: "untrusted_parent"}
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), decoded as latin-1."""
    for i, (key, value) in enumerate(scope.get("headers") or ()):
        if i >= _MAX_HEADER_SCAN:
            break
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def method_of(scope: Mapping[str, Any]) -> str:
    method = scope.get("method")
    return method if method in _METHODS else "_OTHER"


def route_template(scope: Mapping[str, Any]) -> str | None:
    """The matched route's template (Starlette/FastAPI set ``scope["route"]``), validated."""
    route = scope.get("route")
    if route is None:
        return None
    path = getattr(route, "path", None)
    return valid_route(path) if isinstance(path, str) else None


@dataclass(frozen=True, slots=True)
class SdkRoute:
    """A route the SDK serves itself, in the shape routers leave in ``scope["route"]`` (a ``path`` template)."""

    path: str


def mark_sdk_route(scope: Scope, template: str) -> None:
    """Name the route of a request the SDK answers itself, so its server span carries the template."""
    scope["route"] = SdkRoute(template)


def sdk_route(scope: Mapping[str, Any]) -> str | None:
    """The template of an SDK-served route, or ``None`` for the app's own routes."""
    route = scope.get("route")
    return route.path if isinstance(route, SdkRoute) else None


def accept_id(value: object, scrub: FastScrubber) -> str | None:
    """An id from outside if it is well-formed and looks like no secret, else ``None``."""
    checked = valid_id(value)
    if checked is None or scrub.text(checked) != checked:
        return None
    return checked


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
_NO_PARENT: Final = Context()


def parent_and_links(
    raw_traceparent: object, trusted: bool, extra_links: list[Link] | None = None
) -> tuple[Context, list[Link]]:
    """The parent context (empty: a new trace) and links for a span started from outside input."""
    links = extra_links or []
    parent = parse_traceparent(raw_traceparent) if not isinstance(raw_traceparent, TraceParent) else raw_traceparent
    if parent is None:
        return _NO_PARENT, links
    remote = remote_span_context(parent)
    if trusted:
        return trace.set_span_in_context(NonRecordingSpan(remote), Context()), links
    return _NO_PARENT, [*links, link(remote, _UNTRUSTED)]


class ReconnectTracker:
    """Remembers the last connection of each session, to tell a reconnect from a first connect."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._last: dict[str, str] = {}
        self._max = max_sessions

    def connected(self, session_id: str, connection_id: str) -> str | None:
        """Record the connection; return the session's previous connection id, if any."""
        previous = self._last.pop(session_id, None)
        if len(self._last) >= self._max:
            self._last.pop(next(iter(self._last)))  # oldest first: dicts keep insertion order
        self._last[session_id] = connection_id
        return previous if previous != connection_id else None

    def renamed(self, session_id: str, old: str, new: str) -> None:
        """The session's connection ``old`` now goes by ``new`` (the id its spans carry from now on)."""
        if self._last.get(session_id) == old:
            self._last[session_id] = new
