"""Stored text made visible and bounded before it is shown in a page.

Stored text comes from whoever could send to the collector. ``html.escape``
makes markup inert; this module also shows control characters, bidirectional
overrides and invisible format characters as escapes (``\\x1b``, ``\\u202e``)
so that they can neither reorder nor hide what a page shows, and cuts text
longer than a limit with a marker that says how much was left out.
"""

from __future__ import annotations

import re
from html import escape
from typing import Final

DEFAULT_LIMIT: Final = 4_000
# C0 and C1 controls and DEL; bidirectional marks, embeddings, overrides and isolates; line and paragraph
# separators; invisible format characters (zero-width, word joiner, BOM, interlinear annotation); surrogates.
_UNSAFE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, with a marker naming how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text) - limit:,} more characters]"


def visible(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` bounded, with unsafe characters shown escaped (tabs and newlines are kept)."""
    value = "" if text is None else str(text)
    return _UNSAFE.sub(_escape, clip(value, limit))


def h(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` bounded, made visible and HTML-escaped (quotes too): safe in text and in attributes."""
    return escape(visible(text, limit), quote=True)
