"""liveobs.js as package data: served at its fixed path with caching, and tagged with its SRI hash."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from importlib import resources
from typing import Any

import httpx
from starlette.applications import Starlette

import liveobs.sdk
from liveobs.sdk._assets import ASSET_PATH, client_asset, script_tag
from liveobs.sdk._evidence_asgi import observe_live_app

MAX_RAW_BYTES = 16 * 1024
MAX_GZIP_BYTES = 5 * 1024


def _packaged() -> bytes:
    return resources.files("liveobs.sdk").joinpath("static", "liveobs.js").read_bytes()


def test_the_asset_is_small_dependency_free_package_data() -> None:
    body = _packaged()
    assert client_asset().body == body
    assert len(body) < MAX_RAW_BYTES
    assert len(gzip.compress(body)) < MAX_GZIP_BYTES
    text = body.decode("utf-8")
    assert not re.search(r"\b(require|import)\s*\(|^\s*import\s", text, re.MULTILINE)
    assert "eval(" not in text
    assert "new Function" not in text


def test_script_tag_carries_the_sri_hash_of_the_served_bytes_and_the_nonce() -> None:
    tag = script_tag(nonce="n0nce", report_url="/r?a=1&b=2", timeout_ms=500)
    digest = base64.b64encode(hashlib.sha384(_packaged()).digest()).decode()
    assert f'integrity="sha384-{digest}"' in tag
    assert 'crossorigin="anonymous"' in tag
    assert 'nonce="n0nce"' in tag
    assert 'data-report-url="/r?a=1&amp;b=2"' in tag
    assert 'data-timeout-ms="500"' in tag
    assert re.search(rf'src="{ASSET_PATH}\?v=[0-9a-f]{{12}}"', tag)
    assert "data-reports-per-minute" not in tag
    quoted = script_tag(nonce='"><script>alert(1)</script>')
    assert "<script>alert" not in quoted


def test_the_asset_is_served_with_etag_immutable_caching_and_gzip(configured: Any, serve: Any) -> None:
    server = serve(observe_live_app(Starlette(), session=liveobs.sdk.cookie_session("sid")))
    url = f"{server.http}{ASSET_PATH}?v={client_asset().version}"
    with httpx.Client() as client:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        zipped = client.get(url, headers={"Accept-Encoding": "gzip, br"})
        again = client.get(url, headers={"If-None-Match": plain.headers["etag"]})
        head = client.head(url, headers={"Accept-Encoding": "identity"})
        post = client.post(url)
    assert plain.status_code == 200
    assert plain.content == _packaged()
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == _packaged()  # httpx decodes it
    assert int(zipped.headers["content-length"]) < len(_packaged()) / 2
    assert (again.status_code, again.content) == (304, b"")
    assert (head.status_code, head.content, int(head.headers["content-length"])) == (200, b"", len(_packaged()))
    assert post.status_code == 405
    # The middleware's own span still wraps the asset request (its request id is echoed).
    assert plain.headers["x-request-id"]
