"""Secrets found by the shape of the text around them, not by a token format.

PEM blocks, passwords in URL userinfo, cookie strings and ``name=value``
settings whose name is a secret's. Each function walks the text once with
``str.find`` or one bounded pattern, so its time is linear in the text: every
position is looked at a bounded number of times (the tests time it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

_PEM_BEGIN: Final = "-----BEGIN "
_PEM_END: Final = "-----END "
_DASHES: Final = "-----"
_PEM_LABEL_MAX: Final = 100
_PEM_BODY_MAX: Final = 1 << 20


def pem_blocks(text: str, marker: Callable[[str], str]) -> str:
    """Every ``-----BEGIN …-----`` block of any kind, to its END line (or the end of the text)."""
    out: list[str] = []
    pos = 0
    while True:
        start = text.find(_PEM_BEGIN, pos)
        if start < 0:
            break
        label_end = text.find(_DASHES, start + len(_PEM_BEGIN), start + len(_PEM_BEGIN) + _PEM_LABEL_MAX)
        if label_end < 0:
            out.append(text[pos : start + len(_PEM_BEGIN)])
            pos = start + len(_PEM_BEGIN)
            continue
        label = text[start + len(_PEM_BEGIN) : label_end]
        end = text.find(_PEM_END, label_end, label_end + _PEM_BODY_MAX)
        if end < 0:
            stop = len(text)
        else:
            close = text.find(_DASHES, end + len(_PEM_END), end + len(_PEM_END) + _PEM_LABEL_MAX)
            stop = close + len(_DASHES) if close >= 0 else len(text)
        out.append(text[pos:start])
        out.append(marker("private_key" if "PRIVATE" in label or "KEY" in label else "pem_block"))
        pos = stop
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# A URL-ish token: a scheme, "://", then everything up to whitespace or a quote.
_URL_TOKEN: Final = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]{0,31})://([^\s\"'<>`]{1,16384})")
_WEB_SCHEMES: Final = frozenset({"http", "https", "ws", "wss", "ftp", "ftps"})
_HOST_PORT: Final = re.compile(r"[^:/?#@]{0,1024}:[0-9]{1,5}")


def url_userinfo(text: str, marker: Callable[[str], str]) -> str:
    """The password in ``scheme://user:password@host``, whatever characters it holds.

    The userinfo runs to the last ``@`` of the token, so ``@`` and ``/`` inside a
    password (``mongodb://u:p@ss/w@host``) are covered. For web schemes, where
    ``/`` cannot be in userinfo, it stops at the first ``/``, ``?`` or ``#``.
    """
    if "://" not in text or "@" not in text:
        return text

    def replace(m: re.Match[str]) -> str:
        scheme, rest = m.group(1), m.group(2)
        at = rest.rfind("@")
        if at <= 0:
            return m.group(0)
        userinfo = rest[:at]
        if scheme.lower() in _WEB_SCHEMES:
            cut = min((i for i in (userinfo.find("/"), userinfo.find("?"), userinfo.find("#")) if i >= 0), default=-1)
            if cut >= 0:
                return m.group(0)
        elif "/" in userinfo and _HOST_PORT.fullmatch(userinfo.split("/", 1)[0]):
            return m.group(0)  # host:port/path@… — the @ is in the path
        colon = userinfo.find(":")
        if colon < 0 or colon == len(userinfo) - 1 or userinfo[colon + 1 :].startswith("[REDACTED"):
            return m.group(0)
        return f"{scheme}://{userinfo[: colon + 1]}{marker('url_password')}{rest[at:]}"

    return _URL_TOKEN.sub(replace, text)


# A setting: a name, optional closing quote, "=" or ":" (no "://"), then its value.
_SETTING: Final = re.compile(
    r"(?<![A-Za-z0-9_.\-])([A-Za-z_][A-Za-z0-9_.\-]{0,63})(?:\\?[\"'])?[ \t]{0,8}(?:=|:(?!//))[ \t]{0,8}"
)
_QUOTED: Final = re.compile(r"(\\?[\"'])([^\"'\r\n\\]{1,4096})")
_BARE: Final = re.compile(r"[^\s&,;\"'<>\\]{1,4096}")
# After ":" in prose ("reset your password: click the link") a short lower-case word that
# more words follow is not a value; "password: hunter" at the end still is.
_PROSE_WORD: Final = re.compile(r"[a-z]{1,12}")
_COOKIE_ATTRIBUTES: Final = frozenset(
    {"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority", "partitioned", "version"}
)


def settings(text: str, secret_name: Callable[[str], bool], marker: Callable[[str], str]) -> str:
    """Values of ``name=value`` / ``name: value`` / ``"name": "value"`` where ``name`` names a secret.

    Covers env-style assignments (``PGPASSWORD=…``), query strings (``?token=…``),
    connection strings (``Password=…;``), raw cookie strings (``sessionid=…; csrftoken=…``)
    and JSON text. Values that already are markers are left alone.
    """
    if "=" not in text and ":" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _SETTING.finditer(text):
        start = m.end()
        if start < pos or not secret_name(m.group(1)):
            continue
        quoted = _QUOTED.match(text, start)
        if quoted is not None:
            v_start, v_end = quoted.start(2), quoted.end(2)
        else:
            bare = _BARE.match(text, start)
            if bare is None:
                continue
            v_start, v_end = bare.start(), bare.end()
            if "=" not in m.group(0) and _PROSE_WORD.fullmatch(text, v_start, v_end) \
                    and _PROSE_WORD.match(text, v_end + 1) and text.startswith(" ", v_end):
                continue  # "reset your password: click the link" (a word, then more words)
        if text.startswith("[REDACTED", v_start):
            continue
        out.append(text[pos:v_start])
        out.append(marker("assignment"))
        pos = v_end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


_COOKIE_VALUE_MIN: Final = 8  # shorter values are settings ("theme=dark"), not session cookies


def cookie_string(text: str, marker: Callable[[str], str]) -> str:
    """A raw ``Cookie``/``Set-Cookie`` value (``a=1; b=2``): every cookie's value, whatever its name."""
    if ";" not in text or "=" not in text or len(text) > 16384 or "\n" in text:
        return text
    parts = text.split(";")
    cleaned: list[str] = []
    cookies = 0
    for part in parts:
        name, eq, value = part.partition("=")
        bare = name.strip()
        if not eq:
            if bare.lower() in _COOKIE_ATTRIBUTES or not bare:
                cleaned.append(part)
                continue
            return text
        if not bare or any(c in bare for c in " \t,\"'()<>@[]{}/?\\"):
            return text
        if bare.lower() in _COOKIE_ATTRIBUTES or len(value.strip()) < _COOKIE_VALUE_MIN or value.startswith("[REDACTED"):
            cleaned.append(part)
            continue
        cookies += 1
        cleaned.append(f"{name}={marker('cookie')}")
    return ";".join(cleaned) if cookies else text
