"""The live envelope (client → server) and the reply (server → client).

A live message is a JSON object; the envelope travels under the ``lo`` key next
to the app's own payload and is never merged into it. Everything in it is
untrusted: the parse functions validate and bound each field, swap a bad event
id for a fresh one, and never raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from liveobs.conventions._ids import (
    MAX_ID_LENGTH,
    TraceParent,
    mint_event_id,
    parse_traceparent,
    valid_id,
)
from liveobs.conventions.keys import ENVELOPE_KEY

DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024
MAX_SEQ: Final = 2**53 - 1  # what a JavaScript number holds exactly
MAX_NAME_LENGTH: Final = 64
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,63}")
# Route templates: path characters and template braces; no whitespace or quotes.
_ROUTE_RE: Final = re.compile(r"[A-Za-z0-9_.:/{}\-~*+@]{1,128}")
# Client clock readings outside 2000..2100 are not trusted.
_MIN_TIME_MS: Final = 946_684_800_000
_MAX_TIME_MS: Final = 4_102_444_800_000
# Error classes as they reach the browser: a Python-ish dotted name, bounded.
_ERROR_CLASS_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,127}")
_ERROR_CODE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")


def valid_name(value: object) -> str | None:
    """An event name (``add_card``, ``board.move``) or ``None``."""
    if isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(value):
        return value
    return None


def valid_route(value: object) -> str | None:
    """A route id or template (``/board/{board_id}``, ``board.show``) or ``None``."""
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH and _ROUTE_RE.fullmatch(value):
        return value
    return None


def valid_error_class(value: object) -> str | None:
    """An error class name (``KeyError``, ``app.errors.Conflict``) or ``None``."""
    if isinstance(value, str) and len(value) <= 128 and _ERROR_CLASS_RE.fullmatch(value):
        return value
    return None


def valid_error_code(value: object) -> str | None:
    """A short machine error code (``internal``, ``forbidden``) or ``None``."""
    if isinstance(value, str) and len(value) <= 32 and _ERROR_CODE_RE.fullmatch(value):
        return value
    return None


def _valid_seq(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_SEQ else None


def _valid_time_ms(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if _MIN_TIME_MS <= value <= _MAX_TIME_MS else None


class LiveEnvelope(NamedTuple):
    """The validated ``lo`` object of one live message (immutable; one is parsed per live event).

    ``event_id`` is always set: the client's when valid, else a fresh one
    (``event_id_minted``). Other fields are ``None`` when absent or invalid;
    ``rejected`` names the fields that were present but invalid.
    """

    event_id: str
    event_id_minted: bool = False
    event_name: str | None = None
    seq: int | None = None
    session_id: str | None = None
    connection_id: str | None = None
    route_id: str | None = None
    traceparent: TraceParent | None = None
    client_time_ms: float | None = None
    rejected: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The envelope as the client sends it (what :func:`parse_envelope` reads)."""
        wire: dict[str, Any] = {"event_id": self.event_id}
        optional: dict[str, Any] = {
            "event_name": self.event_name,
            "seq": self.seq,
            "session_id": self.session_id,
            "connection_id": self.connection_id,
            "route_id": self.route_id,
            "traceparent": self.traceparent.header() if self.traceparent else None,
            "client_time": self.client_time_ms,
        }
        wire.update({k: v for k, v in optional.items() if v is not None})
        return wire


class _Accepted:
    """Strings a validator accepted lately: session, connection, route and event names repeat per connection."""

    __slots__ = ("_check", "_seen")

    def __init__(self, check: Callable[[object], str | None]) -> None:
        self._check = check
        self._seen: dict[str, None] = {}

    def __call__(self, value: object) -> str | None:
        if value.__class__ is str and value in self._seen:
            return value  # a str: checked above
        accepted = self._check(value)
        if accepted is not None and accepted.__class__ is str:
            if len(self._seen) >= 1024:
                self._seen.clear()
            self._seen[accepted] = None
        return accepted


_valid_repeating_id: Final = _Accepted(valid_id)
_valid_repeating_name: Final = _Accepted(valid_name)
_valid_repeating_route: Final = _Accepted(valid_route)
# What each has accepted lately (read, never written, by the one-pass parse of the common envelope).
_ids_seen: Final = _valid_repeating_id._seen
_names_seen: Final = _valid_repeating_name._seen
_routes_seen: Final = _valid_repeating_route._seen
_ABSENT: Final = object()


def _common_envelope(raw: dict[Any, Any]) -> LiveEnvelope | None:
    """The envelope a client sends (only known fields, every one valid) in one pass; ``None`` for any other.

    Gives what the field-by-field parse gives for such an envelope; anything
    else (an unknown key, a ``null``, an invalid value) takes that parse.
    """
    get = raw.get
    event_id = get("event_id")
    if event_id is None or valid_id(event_id) is None:
        return None
    found = 1
    name = get("event_name")
    if name is not None:
        if (name.__class__ is not str or name not in _names_seen) and _valid_repeating_name(name) is None:
            return None
        found += 1
    seq = get("seq")
    if seq is not None:
        if seq.__class__ is not int or not 0 <= seq <= MAX_SEQ:
            return None
        found += 1
    session = get("session_id")
    if session is not None:
        if (session.__class__ is not str or session not in _ids_seen) and _valid_repeating_id(session) is None:
            return None
        found += 1
    connection = get("connection_id")
    if connection is not None:
        if (connection.__class__ is not str or connection not in _ids_seen) and _valid_repeating_id(connection) is None:
            return None
        found += 1
    route = get("route_id")
    if route is not None:
        if (route.__class__ is not str or route not in _routes_seen) and _valid_repeating_route(route) is None:
            return None
        found += 1
    traceparent = get("traceparent")
    if traceparent is not None:
        traceparent = parse_traceparent(traceparent)
        if traceparent is None:
            return None
        found += 1
    client_time = get("client_time")
    if client_time is not None:
        client_time = _valid_time_ms(client_time)
        if client_time is None:
            return None
        found += 1
    if found != len(raw):  # an unknown key or a null: the field-by-field parse says which
        return None
    return LiveEnvelope(event_id, False, name, seq, session, connection, route, traceparent, client_time)


def parse_envelope(raw: object) -> LiveEnvelope:
    """Validate an ``lo`` object of any shape; never raises."""
    if raw.__class__ is dict:
        common = _common_envelope(raw)
        if common is not None:
            return common
    return _field_by_field(raw)


def _field_by_field(raw: object) -> LiveEnvelope:
    """:func:`parse_envelope` one field at a time, naming the rejected ones."""
    if not isinstance(raw, dict):
        return LiveEnvelope(event_id=mint_event_id(), event_id_minted=True, rejected=("lo",))
    rejected: list[str] = []
    get = raw.get

    def take(key: str, check: Callable[[object], Any]) -> Any:
        value = get(key, _ABSENT)
        if value is _ABSENT:
            return None
        checked = check(value)
        if checked is None:
            rejected.append(key)
        return checked

    event_id = take("event_id", valid_id)
    return LiveEnvelope(
        event_id if event_id is not None else mint_event_id(),
        event_id is None,
        take("event_name", _valid_repeating_name),
        take("seq", _valid_seq),
        take("session_id", _valid_repeating_id),
        take("connection_id", _valid_repeating_id),
        take("route_id", _valid_repeating_route),
        take("traceparent", parse_traceparent),
        take("client_time", _valid_time_ms),
        tuple(rejected),
    )


@dataclass(frozen=True, slots=True)
class LiveMessage:
    """One decoded live message: the app payload (without ``lo``) and the envelope.

    ``error`` is set, and ``payload`` empty, when the message could not be decoded.
    ``envelope`` is ``None`` when the message carried no ``lo`` object.
    """

    payload: dict[str, Any]
    envelope: LiveEnvelope | None
    error: str | None = None


def parse_message(data: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> LiveMessage:
    """Decode one live message from the wire; never raises.

    The size is checked before parsing; a body that is not a JSON object, too
    deep, or too large yields ``error`` and an empty payload.
    """
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > max_bytes:
        return LiveMessage({}, None, f"message of {size} bytes is over the limit of {max_bytes}")
    try:
        decoded = json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        return LiveMessage({}, None, f"message is not valid JSON: {type(exc).__name__}")
    if not isinstance(decoded, dict):
        return LiveMessage({}, None, "message is not a JSON object")
    envelope = parse_envelope(decoded.pop(ENVELOPE_KEY)) if ENVELOPE_KEY in decoded else None
    return LiveMessage(decoded, envelope)
