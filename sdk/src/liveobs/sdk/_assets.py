"""The browser client asset: ``liveobs.js`` served at a fixed path with its SRI hash.

The file is package data, read once. :func:`script_tag` renders the ``<script>``
element an app's template puts in its pages (``integrity``, ``crossorigin``, an
optional CSP ``nonce``, the report URL); :func:`serve_asset` is the ASGI
handler that answers the fixed path with an ETag, long-lived immutable caching
(the tag's URL carries a content hash) and gzip when the browser accepts it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from liveobs.sdk._asgi_io import Receive, Scope, Send, header, send_response

ASSET_PATH: Final = "/_liveobs/liveobs.js"
REPORT_PATH: Final = "/_liveobs/report"


@dataclass(frozen=True, slots=True)
class ClientAsset:
    """``liveobs.js``: its bytes, gzipped bytes, SRI value and ETag."""

    body: bytes
    gzipped: bytes
    integrity: str
    etag: str

    @property
    def version(self) -> str:
        """A short content hash for cache busting in the script URL."""
        return self.etag.strip('"')[:12]


@cache
def client_asset() -> ClientAsset:
    """The packaged ``liveobs.js`` (read and hashed once per process)."""
    body = resources.files("liveobs.sdk").joinpath("static", "liveobs.js").read_bytes()
    digest = hashlib.sha384(body).digest()
    return ClientAsset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        integrity="sha384-" + base64.b64encode(digest).decode("ascii"),
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


def script_tag(
    *,
    nonce: str | None = None,
    report_url: str = REPORT_PATH,
    asset_path: str = ASSET_PATH,
    timeout_ms: int | None = None,
    reports_per_minute: int | None = None,
    defer: bool = True,
) -> str:
    """The ``<script>`` element that loads ``liveobs.js`` with SRI (and a CSP nonce when given).

    Put it in the page's ``<head>`` after the liveobs ``<meta>`` tags.
    """
    asset = client_asset()
    attributes: dict[str, str | None] = {
        "src": f"{asset_path}?v={asset.version}",
        "integrity": asset.integrity,
        "crossorigin": "anonymous",
        "nonce": nonce,
        "data-report-url": report_url,
        "data-timeout-ms": str(timeout_ms) if timeout_ms is not None else None,
        "data-reports-per-minute": str(reports_per_minute) if reports_per_minute is not None else None,
    }
    rendered = " ".join(f'{name}="{html.escape(value, quote=True)}"' for name, value in attributes.items()
                        if value is not None)
    return f"<script {rendered}{' defer' if defer else ''}></script>"


def _accepts_gzip(scope: Scope) -> bool:
    value = header(scope, b"accept-encoding") or ""
    return any(part.split(";")[0].strip() == "gzip" for part in value.split(","))


async def serve_asset(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI: answer ``GET``/``HEAD`` for ``liveobs.js``; 304 on a matching ``If-None-Match``."""
    asset = client_asset()
    if scope.get("method") not in ("GET", "HEAD"):
        await send_response(send, 405, b"method not allowed", headers=[(b"allow", b"GET, HEAD")])
        return
    common: list[tuple[bytes, bytes]] = [
        (b"etag", asset.etag.encode()),
        (b"cache-control", b"public, max-age=31536000, immutable"),
        (b"vary", b"Accept-Encoding"),
        (b"x-content-type-options", b"nosniff"),
        # The tag uses crossorigin="anonymous"; a same-origin page never needs more.
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if asset.etag in (header(scope, b"if-none-match") or ""):
        await send_response(send, 304, b"", headers=common)
        return
    body = asset.gzipped if _accepts_gzip(scope) else asset.body
    headers: list[tuple[bytes, bytes]] = [*common, (b"content-type", b"text/javascript; charset=utf-8")]
    if body is asset.gzipped:
        headers.append((b"content-encoding", b"gzip"))
    await send_response(send, 200, b"" if scope.get("method") == "HEAD" else body, headers=headers,
                        content_length=len(body))


def asset_info() -> dict[str, Any]:
    """Size and hash figures for docs and benchmarks."""
    asset = client_asset()
    return {"bytes": len(asset.body), "gzip_bytes": len(asset.gzipped), "integrity": asset.integrity}
