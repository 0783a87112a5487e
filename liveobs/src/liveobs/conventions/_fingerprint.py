"""The error fingerprint: one stable hash per kind of failure.

Two occurrences of the same bug hash alike even when their messages differ in
the ids, numbers and quoted values they mention.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

_MASKS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"), "<str>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b"), "<ulid>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"[-+]?\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b"), "<num>"),
)
_SPACE: Final = re.compile(r"\s+")
MAX_TEMPLATE_LENGTH: Final = 512


def message_template(message: str) -> str:
    """``message`` with quoted values, uuids, ulids, hex and numbers masked."""
    text = message[: MAX_TEMPLATE_LENGTH * 4]
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return _SPACE.sub(" ", text).strip()[:MAX_TEMPLATE_LENGTH]


def error_fingerprint(
    service: str, error_class: str, message: str | None = None, top_frame: str | None = None
) -> str:
    """A 16-hex-digit fingerprint of service, error class and where or what failed.

    ``top_frame`` (``module:function``) is preferred when known, as line numbers
    move between releases; otherwise the message template is used.
    """
    detail = top_frame if top_frame else message_template(message or "")
    digest = hashlib.sha256("\x1f".join((service, error_class, detail)).encode("utf-8", "replace"))
    return digest.hexdigest()[:16]
