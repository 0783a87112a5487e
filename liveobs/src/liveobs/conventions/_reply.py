"""The live reply: what the server sends back under ``lo`` for one event, and its one encoder.

:meth:`LiveReply.to_wire` is the ``lo`` object; :func:`reply_text` its
compact JSON text, written directly (without the JSON encoder) when the event
id needs no escaping, which the common reply takes on every live event;
:func:`reply_message` the whole message of an error reply the server sends
itself. :func:`parse_reply` validates a reply from the wire.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from liveobs.conventions._envelope import _valid_seq, _valid_time_ms, valid_error_class, valid_error_code
from liveobs.conventions._ids import valid_id, valid_span_id, valid_trace_id
from liveobs.conventions.keys import ENVELOPE_KEY

# Ids that JSON carries as they are (no quote, backslash or control character to escape).
_PLAIN_ID: Final = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


@dataclass(frozen=True, slots=True)
class LiveReply:
    """What the server sends back under ``lo`` for one event.

    An error reply carries only the error class and a short code: no message and
    no stack trace ever reach the browser.
    """

    event_id: str
    trace_id: str | None = None
    span_id: str | None = None
    server_time_ms: float | None = None
    patch_bytes: int | None = None
    ok: bool = True
    error_class: str | None = None
    error_code: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"event_id": self.event_id, "ok": self.ok}
        optional: dict[str, Any] = {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "server_time": self.server_time_ms,
            "patch_bytes": self.patch_bytes,
            "error_class": self.error_class,
            "error_code": self.error_code,
        }
        wire.update({k: v for k, v in optional.items() if v is not None})
        return wire


def parse_reply(raw: object) -> LiveReply | None:
    """Validate a reply's ``lo`` object; ``None`` when it has no valid event id."""
    if not isinstance(raw, dict):
        return None
    event_id = valid_id(raw.get("event_id"))
    if event_id is None:
        return None
    patch = raw.get("patch_bytes")
    return LiveReply(
        event_id=event_id,
        trace_id=valid_trace_id(raw.get("trace_id")),
        span_id=valid_span_id(raw.get("span_id")),
        server_time_ms=_valid_time_ms(raw.get("server_time")),
        patch_bytes=patch if _valid_seq(patch) is not None else None,
        ok=raw.get("ok") is not False,
        error_class=valid_error_class(raw.get("error_class")),
        error_code=valid_error_code(raw.get("error_code")),
    )


def ms_text(ns: int) -> str:
    """Nanoseconds as milliseconds in JSON number text (``1764277264123.456789``), exactly."""
    return "%d.%06d" % divmod(ns, 1_000_000)  # noqa: UP031  # half the cost of repr(ns / 1e6)


def reply_text(
    event_id: str, trace_id: str, span_id: str, server_time_ns: int, patch_bytes: int | None = None, *,
    plain_id: bool = False,
) -> str:
    """The ``lo`` object of a successful reply as compact JSON text.

    ``plain_id`` says the caller knows the event id needs no JSON escaping (it
    passed :func:`~liveobs.conventions.valid_id`); otherwise it is checked.
    """
    if not plain_id and not _PLAIN_ID.fullmatch(event_id):
        wire = LiveReply(event_id=event_id, trace_id=trace_id, span_id=span_id,
                         server_time_ms=server_time_ns / 1e6, patch_bytes=patch_bytes).to_wire()
        return json.dumps(wire, separators=(",", ":"))
    if patch_bytes.__class__ is int and server_time_ns.__class__ is int and server_time_ns >= 1_000_000:
        # The common reply: the decimal digits of the nanoseconds, split before the last six, are
        # ms_text's text; and a plain int needs no format spec (together a fifth of the cost).
        ns = str(server_time_ns)
        return (
            f'{{"event_id":"{event_id}","ok":true,"trace_id":"{trace_id}",'
            f'"span_id":"{span_id}","server_time":{ns[:-6]}.{ns[-6:]},"patch_bytes":{patch_bytes}}}'
        )
    patch = "" if patch_bytes is None else f',"patch_bytes":{patch_bytes:d}'
    return (
        f'{{"event_id":"{event_id}","ok":true,"trace_id":"{trace_id}",'
        f'"span_id":"{span_id}","server_time":{ms_text(server_time_ns)}{patch}}}'
    )


def reply_message(lo: LiveReply | dict[str, Any]) -> str:
    """A whole reply message (``{"lo": {...}}``) as JSON text, for a reply the server sends on its own."""
    wire = lo.to_wire() if isinstance(lo, LiveReply) else lo
    return json.dumps({ENVELOPE_KEY: wire}, separators=(",", ":"))
