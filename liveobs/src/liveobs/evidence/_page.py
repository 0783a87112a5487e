"""A page's subresources and their Subresource Integrity, read from its HTML.

:func:`page_resources` lists the external scripts, stylesheets and module
preloads of an HTML document with their ``integrity`` metadata, decoded.
:func:`judge_resources` says which of them need SRI (cross-origin ones and the
liveobs client asset), and whether each one's metadata is valid and matches the
digest of the asset as it was served, when that digest was observed.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Final

from liveobs.evidence._csp import DIGEST_BYTES, decode_digest

CLIENT_ASSET_NAME: Final = "liveobs.js"
MAX_RESOURCES: Final = 32
MAX_URL_CHARS: Final = 256
_STRENGTH: Final = {"sha256": 1, "sha384": 2, "sha512": 3}
_SCRIPT_LINKS: Final = frozenset({"stylesheet", "modulepreload"})


@dataclass(frozen=True, slots=True)
class Resource:
    """One subresource: its tag, URL and integrity digests (``alg-hex``, or ``alg-invalid``; no colon, which the secret scan takes for a credential)."""

    tag: str
    url: str
    integrity: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "url": self.url, "integrity": list(self.integrity)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resource:
        return cls(str(data.get("tag", "")), str(data.get("url", "")),
                   tuple(str(i) for i in data.get("integrity") or ()))

    @property
    def valid_digests(self) -> dict[str, set[str]]:
        """Algorithm -> hex digests of the well-formed metadata (browsers ignore the rest)."""
        out: dict[str, set[str]] = {}
        for item in self.integrity:
            alg, _, value = item.partition("-")
            if alg in DIGEST_BYTES and value != "invalid" and len(value) == 2 * DIGEST_BYTES[alg]:
                out.setdefault(alg, set()).add(value)
        return out


def integrity_digests(attribute: str) -> tuple[str, ...]:
    """An ``integrity`` attribute as ``alg-hex`` items (``alg-invalid`` for a malformed value)."""
    items = []
    for token in attribute.split():
        alg, sep, value = token.partition("-")
        alg = alg.lower()
        if not sep or alg not in DIGEST_BYTES:
            continue
        digest = decode_digest(alg, value.split("?", 1)[0])
        items.append(f"{alg}-{digest.hex() if digest is not None else 'invalid'}")
    return tuple(items)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Resource] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if len(self.found) >= MAX_RESOURCES:
            return
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "script" and values.get("src"):
            url = values["src"]
        elif tag == "link" and values.get("href"):
            rels = set(values.get("rel", "").lower().split())
            as_script = "preload" in rels and values.get("as", "").lower() in {"script", "style"}
            if not (rels & _SCRIPT_LINKS or as_script):
                return
            url = values["href"]
        else:
            return
        self.found.append(Resource(tag, url[:MAX_URL_CHARS], integrity_digests(values.get("integrity", ""))))


def page_resources(html: str) -> list[Resource]:
    """The external scripts, stylesheets and script or style preloads of a document."""
    parser = _Tags()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup: keep what it read
        pass
    return parser.found


def resources_json(resources: Sequence[Resource]) -> str:
    return json.dumps([r.to_dict() for r in resources[:MAX_RESOURCES]], separators=(", ", ": "))


def resources_from_json(text: str | None) -> list[Resource]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    return [Resource.from_dict(d) for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def asset_digests(body: bytes) -> dict[str, str]:
    """What a served asset hashes to under every SRI algorithm, in hex."""
    return {alg: hashlib.new(alg, body).hexdigest() for alg in DIGEST_BYTES}


def is_cross_origin(url: str, page_origin: str) -> bool:
    """Whether ``url`` (as written in a page served from ``page_origin``) loads from elsewhere."""
    target = urllib.parse.urlsplit(urllib.parse.urljoin(page_origin.rstrip("/") + "/", url))
    page = urllib.parse.urlsplit(page_origin if "//" in page_origin else f"//{page_origin}")
    return (target.hostname or "", target.port) != (page.hostname or "", page.port) or (
        bool(page.scheme) and target.scheme != page.scheme)


def is_client_asset(url: str) -> bool:
    return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] == CLIENT_ASSET_NAME


@dataclass
class Served:
    """An asset as it was fetched: HTTP status and digests (empty when not fetched whole)."""

    url: str
    status: int
    digests: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status, "digests": self.digests}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Served:
        return cls(str(data.get("url", "")), int(data.get("status") or 0),
                   {str(k): str(v) for k, v in (data.get("digests") or {}).items()})


def served_json(served: Iterable[Served]) -> str:
    return json.dumps([s.to_dict() for s in served], separators=(", ", ": "))


def served_from_json(text: str | None) -> list[Served]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    return [Served.from_dict(d) for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _same_asset(a: str, b: str, page_origin: str) -> bool:
    base = page_origin.rstrip("/") + "/" if "//" in page_origin else f"http://{page_origin}/"
    ja, jb = urllib.parse.urljoin(base, a), urllib.parse.urljoin(base, b)
    return urllib.parse.urlsplit(ja)._replace(query="", fragment="") == urllib.parse.urlsplit(jb)._replace(
        query="", fragment="") or (is_client_asset(a) and is_client_asset(b))


def judge_resources(resources: Sequence[Resource], page_origin: str, served: Sequence[Served] = ()) -> list[str]:
    """Problems with the page's SRI; ``[]`` when every resource that needs SRI has a valid, matching one.

    Raises nothing: an empty page or a page whose resources need no SRI is judged by
    :func:`needs_sri` first.
    """
    problems = []
    for r in resources:
        if not (is_cross_origin(r.url, page_origin) or is_client_asset(r.url)):
            continue
        digests = r.valid_digests
        if not digests:
            bad = "malformed integrity" if r.integrity else "no integrity"
            problems.append(f"{r.url}: {bad}")
            continue
        strongest = max(digests, key=_STRENGTH.__getitem__)
        for s in served:
            if not _same_asset(s.url, r.url, page_origin):
                continue
            if s.status != 200:
                problems.append(f"{r.url}: the asset answered {s.status}")
            elif strongest in s.digests and s.digests[strongest] not in digests[strongest]:
                problems.append(f"{r.url}: integrity does not match the served asset")
    return problems


def needs_sri(resources: Sequence[Resource], page_origin: str) -> bool:
    """Whether the page loads anything SRI must protect (a cross-origin resource or the client asset)."""
    return any(is_cross_origin(r.url, page_origin) or is_client_asset(r.url) for r in resources)
