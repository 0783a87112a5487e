"""The one context that carries the correlation ids through an app.

A single :class:`contextvars.ContextVar` holds an immutable :class:`LiveIds`.
It is set with a token and reset in ``finally``; asyncio copies it into tasks,
``await`` keeps it, and Starlette's ``run_in_threadpool`` and
``asyncio.to_thread`` copy it into worker threads. ``loop.run_in_executor``
does not copy context: give it a :class:`ContextExecutor`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import context as otel_context

from liveobs.conventions import keys

_P = ParamSpec("_P")
_T = TypeVar("_T")

_FIELDS: Final = (
    ("event_id", keys.EVENT_ID),
    ("session_id", keys.SESSION_ID),
    ("request_id", keys.REQUEST_ID),
    ("route_id", keys.ROUTE_ID),
    ("connection_id", keys.CONNECTION_ID),
)


class LiveIds:
    """The correlation ids in effect: event, session, request, route, connection.

    Immutable; :meth:`replace` returns a copy. :attr:`attributes` maps the
    canonical attribute keys to the ids that are set, computed once, so that
    spans and log lines can take them without per-call work. ``vetted_by`` is
    the scrubber (a :class:`~liveobs.sdk.FastScrubber`) that the maker of these
    ids already found leaves every one of them unchanged, if any.
    """

    __slots__ = (
        "attributes", "connection_id", "event", "event_id", "request_id", "route_id", "session_id", "vetted_by",
    )

    event_id: str | None
    session_id: str | None
    request_id: str | None
    route_id: str | None
    connection_id: str | None
    attributes: dict[str, str]
    vetted_by: object
    event: Any  # the live event in flight under these ids (its EventRecorder), set by the recorder itself

    def __init__(
        self,
        event_id: str | None = None,
        session_id: str | None = None,
        request_id: str | None = None,
        route_id: str | None = None,
        connection_id: str | None = None,
        *,
        vetted_by: object = None,
    ) -> None:
        # One is made per live event: the slots are written through their descriptors (the class refuses
        # assignment), and the usual ids, all set, are one dict display.
        _set_event_id(self, event_id)
        _set_session_id(self, session_id)
        _set_request_id(self, request_id)
        _set_route_id(self, route_id)
        _set_connection_id(self, connection_id)
        _set_vetted_by(self, vetted_by)
        set_event(self, None)
        if event_id is not None and session_id is not None and request_id is not None and route_id is not None \
                and connection_id is not None:
            _set_attributes(self, {_EVENT_ID: event_id, _SESSION_ID: session_id, _REQUEST_ID: request_id,
                                   _ROUTE_ID: route_id, _CONNECTION_ID: connection_id})
            return
        attributes = {}  # in _FIELDS order
        if event_id is not None:
            attributes[_EVENT_ID] = event_id
        if session_id is not None:
            attributes[_SESSION_ID] = session_id
        if request_id is not None:
            attributes[_REQUEST_ID] = request_id
        if route_id is not None:
            attributes[_ROUTE_ID] = route_id
        if connection_id is not None:
            attributes[_CONNECTION_ID] = connection_id
        _set_attributes(self, attributes)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LiveIds is immutable; use replace()")

    def replace(self, **changes: str | None) -> LiveIds:
        """A copy with ``changes`` applied (``event_id=...`` and so on); not vetted."""
        current = {field: getattr(self, field) for field, _ in _FIELDS}
        current.update(changes)
        copy = LiveIds(**current)
        if copy.event_id == self.event_id:  # still the same live event
            set_event(copy, self.event)
        return copy

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LiveIds) and self.attributes == other.attributes

    def __hash__(self) -> int:
        return hash(tuple(self.attributes.items()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{field}={getattr(self, field)!r}" for field, _ in _FIELDS if getattr(self, field))
        return f"LiveIds({inner})"


_EVENT_ID, _SESSION_ID, _REQUEST_ID, _ROUTE_ID, _CONNECTION_ID = (key for _, key in _FIELDS)


def _slot_setter(name: str) -> Callable[[LiveIds, Any], None]:
    """The setter of ``LiveIds``'s slot ``name`` (what ``object.__setattr__`` finds after a look-up in the class)."""
    setter: Callable[[LiveIds, Any], None] = LiveIds.__dict__[name].__set__
    return setter


_set_event_id, _set_session_id, _set_request_id, _set_route_id, _set_connection_id = (
    _slot_setter(field) for field, _ in _FIELDS)
_set_vetted_by, _set_attributes = _slot_setter("vetted_by"), _slot_setter("attributes")
# ``set_event(ids, recorder)``: the live event in flight under ``ids`` (its EventRecorder sets and clears it).
set_event: Final = _slot_setter("event")

EMPTY_IDS: Final = LiveIds()
_CURRENT: Final[contextvars.ContextVar[LiveIds]] = contextvars.ContextVar("liveobs_ids", default=EMPTY_IDS)


# The ASGI scope of the HTTP request being handled: the route is known only once
# the app's router has matched it, after the ids were bound.
_SCOPE: Final[contextvars.ContextVar[Any]] = contextvars.ContextVar("liveobs_scope", default=None)


def current_ids() -> LiveIds:
    """The ids in effect in this context (empty when none are bound)."""
    return _CURRENT.get()


def set_ids(ids: LiveIds) -> contextvars.Token[LiveIds]:
    """Make ``ids`` current; pass the token to :func:`reset_ids` in ``finally``."""
    return _CURRENT.set(ids)


def reset_ids(token: contextvars.Token[LiveIds]) -> None:
    """Undo :func:`set_ids`. Tolerates a token from another context (falls back to set)."""
    try:
        _CURRENT.reset(token)
    except ValueError:
        old = token.old_value
        _CURRENT.set(EMPTY_IDS if old is contextvars.Token.MISSING else old)


class _QuietDetach(logging.Filter):
    """Drops OpenTelemetry's "Failed to detach context" while liveobs detaches (a token from another task)."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "on", False)


_quiet: _QuietDetach | None = None


def detach_quietly(token: object) -> None:
    """Undo ``otel_context.attach``, silently when the token was made in another context.

    Frameworks that receive in one task and handle in another (Django
    Channels) end a live event in a different context than it began in: the
    span is ended all the same, and nothing is logged as an error. The
    common case (OpenTelemetry's context is a context variable, the token is
    from this context) is the variable's own ``reset``.
    """
    if token.__class__ is contextvars.Token:
        try:
            token.var.reset(token)
            return
        except ValueError:  # made in another context: OpenTelemetry would log it as an error
            pass
    global _quiet
    quiet = _quiet
    if quiet is None:
        quiet = _quiet = _QuietDetach()
        logging.getLogger("opentelemetry.context").addFilter(quiet)
    local = quiet.local
    local.on = True
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    finally:
        local.on = False


@contextmanager
def bind_ids(**ids: str | None) -> Iterator[LiveIds]:
    """Bind ids on top of the current ones for the ``with`` block (the live event in flight stays current).

    ``with bind_ids(event_id=..., route_id=...):`` — the keyword names are the
    :class:`LiveIds` fields.
    """
    bound = _CURRENT.get().replace(**ids)
    token = _CURRENT.set(bound)
    try:
        yield bound
    finally:
        reset_ids(token)


def run_in_context(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """``fn`` bound to a copy of the current context, to run on another thread."""
    ctx = contextvars.copy_context()

    def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return ctx.run(fn, *args, **kwargs)

    return call


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool that runs each job in a copy of the submitter's context.

    ``loop.run_in_executor(ContextExecutor(), fn)`` (or
    ``loop.set_default_executor(ContextExecutor())``) keeps the liveobs ids and
    the current span on the worker thread, which a plain executor loses.
    """

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
