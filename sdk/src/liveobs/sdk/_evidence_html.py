"""The HTML responses' evidence: the CSP header(s) as sent, and the page's subresources with SRI.

:class:`HtmlWatcher` wraps an HTTP response's ``send``. At the response start it
records every ``Content-Security-Policy`` header of a ``text/html`` answer; once
the (uncompressed) body is complete it records the page's scripts, stylesheets
and preloads with their integrity metadata, the page's origin, and, when the page
loads liveobs.js, the digests of the asset this process serves, so the gate can
see an integrity value that does not match what is served.
"""

from __future__ import annotations

from typing import Final

from liveobs.conventions import evidence
from liveobs.evidence import Served, asset_digests, is_client_asset, page_resources
from liveobs.sdk._asgi_io import Message, Scope, Send, own_origin
from liveobs.sdk._assets import ASSET_PATH, client_asset
from liveobs.sdk._evidence import record_csp, record_security, sri_attributes

SRI_SCAN_BYTES: Final = 512 * 1024


def _served_client_asset(html: str) -> list[Served]:
    """What this process serves at liveobs.js, when the page loads it."""
    for resource in page_resources(html):
        if is_client_asset(resource.url):
            return [Served(ASSET_PATH, 200, asset_digests(client_asset().body))]
    return []


class HtmlWatcher:
    """Wraps ``send``: records CSP at the response start and SRI once the HTML body is complete."""

    def __init__(self, scope: Scope, send: Send, csp: bool, sri: bool) -> None:
        self._scope = scope
        self._send = send
        self._csp = csp
        self._sri = sri
        self._html = False
        self._chunks: list[bytes] = []
        self._size = 0

    async def __call__(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            raw = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers") or ()]
            content_type = next((v for k, v in raw if k == b"content-type"), b"").split(b";")[0].strip().lower()
            self._html = content_type == b"text/html"
            if self._html and self._csp:
                policies = [v.decode("latin-1") for k, v in raw if k == b"content-security-policy"]
                record_csp(", ".join(policies) if policies else None)
            # A compressed body is not scanned: SRI is then recorded where it is rendered.
            self._html = self._html and self._sri and not any(k == b"content-encoding" for k, _ in raw)
        elif kind == "http.response.body" and self._html:
            chunk = message.get("body", b"")
            if self._size < SRI_SCAN_BYTES:
                self._chunks.append(chunk[: SRI_SCAN_BYTES - self._size])
                self._size += len(chunk)
            if not message.get("more_body", False):
                self._html = False
                html = b"".join(self._chunks).decode("utf-8", "replace")
                self._chunks.clear()
                outcome, attributes = sri_attributes(html, own_origin(self._scope) or "", _served_client_asset(html))
                record_security(evidence.CHECK_SRI, outcome, attributes)
        await self._send(message)
