"""Putting the ``lo`` reply object into the app's reply message: the one place that edits a reply's text.

The first message the app sends after a live event is its reply. A JSON
object without a top-level ``lo`` gets liveobs's reply object added as the
last member (the app's text is kept byte for byte up to its closing brace). A
message that already names this event under ``lo`` is the app's own reply; one
that names another event is a push. Anything else (not JSON, not an object,
or an object whose ``lo`` is not an object) is the app's own data and goes out
unchanged: liveobs never adds a second ``lo`` key and never splices text it
has not parsed.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from liveobs.conventions import keys

INJECT: Final = "inject"
OWN: Final = "own"
PUSH: Final = "push"
OPAQUE: Final = "opaque"
_WHITESPACE: Final = " \t\r\n"


def classify(raw: bytes, event_id: str) -> tuple[str, dict[str, Any] | None]:
    """What the message ``raw`` (UTF-8) is to the pending event, and the app's own ``lo`` object when it wrote one."""
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return OPAQUE, None
    if decoded.__class__ is not dict:
        return OPAQUE, None
    if keys.ENVELOPE_KEY not in decoded:
        return INJECT, None
    own = decoded[keys.ENVELOPE_KEY]
    if own.__class__ is not dict:
        return OPAQUE, None
    if own.get("event_id") != event_id:
        return PUSH, None
    return OWN, own


def inject(text: str, lo_json: str) -> str:
    """``text`` (a JSON object without a top-level ``lo``) with ``"lo": lo_json`` as its last member."""
    body = text.rstrip(_WHITESPACE)
    i = len(body) - 2
    while i > 0 and body[i] in _WHITESPACE:
        i -= 1
    joiner = "" if i <= 0 else ","
    return f'{body[:-1]}{joiner}"{keys.ENVELOPE_KEY}":{lo_json}}}'
