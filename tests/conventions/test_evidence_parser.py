"""The shared evidence parser: CSP grading per directive, page subresources and SRI, the EICAR canary."""

from __future__ import annotations

import base64
import hashlib

import pytest

from liveobs.evidence import (
    EICAR,
    EICAR_DIGESTS,
    Served,
    asset_digests,
    canary_of,
    grade_header,
    judge_resources,
    needs_sri,
    nonces,
    page_resources,
    stored_form,
    upload_digest,
)
from liveobs.redaction import DEFAULT_SCRUBBER

STRONG = ("default-src 'self'; script-src 'nonce-r4nd0mN0nce'; object-src 'none'; base-uri 'none'; "
          "frame-ancestors 'none'")


def codes(header: str | None) -> set[str]:
    return {f.code for f in grade_header(header)}


@pytest.mark.parametrize(("header", "expected"), [
    (STRONG, set()),
    # The false passes of the audit: a nonce neutralises neither 'unsafe-eval' nor wildcards and schemes.
    ("default-src *; script-src * 'unsafe-eval' 'nonce-AAAA'; object-src *; base-uri *",
     {"unsafe-eval", "script-src-open", "object-src-open", "base-uri-open", "frame-ancestors-missing"}),
    ("script-src 'self' https: data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
     {"script-src-open"}),
    # A nonce on style-src does not protect scripts.
    ("script-src 'unsafe-inline' 'unsafe-eval'; style-src 'nonce-abc'; object-src 'none'; base-uri 'none'; "
     "frame-ancestors 'none'", {"unsafe-eval", "unsafe-inline"}),
    # With a nonce, 'unsafe-inline' is ignored by browsers; with 'strict-dynamic' so are host lists.
    ("script-src 'nonce-abc' 'strict-dynamic' https: 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
     "frame-ancestors 'self'", set()),
    ("script-src 'nonce-abc' https:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'", {"script-src-open"}),
    ("object-src 'none'", {"script-src-missing", "base-uri-missing", "frame-ancestors-missing"}),
    ("script-src 'self' http://cdn.example; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
     {"script-src-open"}),
    (None, {"missing"}),
    ("", {"missing"}),
])
def test_csp_is_graded_per_directive(header: str | None, expected: set[str]) -> None:
    assert codes(header) == expected


def test_an_invalid_hash_source_does_not_protect_inline_scripts() -> None:
    good = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    tail = "; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    assert codes(f"script-src 'unsafe-inline' 'sha256-{good}'{tail}") == set()
    assert codes(f"script-src 'unsafe-inline' 'sha256-'{tail}") == {"unsafe-inline"}
    assert codes(f"script-src 'unsafe-inline' 'sha256-abc'{tail}") == {"unsafe-inline"}


def test_a_weakness_counts_only_when_every_policy_of_the_response_has_it() -> None:
    assert codes(f"script-src *, {STRONG}") == set()
    assert codes("script-src *, object-src 'none'") >= {"base-uri-missing"}


def test_the_stored_form_grades_alike_hides_nonces_and_survives_redaction() -> None:
    good = base64.b64encode(hashlib.sha384(b"inline").digest()).decode()
    header = f"{STRONG.replace('nonce-r4nd0mN0nce', 'nonce-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5')} 'sha384-{good}'"
    stored = stored_form(header)
    assert "Zm9vYmFy" not in stored
    assert good not in stored
    assert DEFAULT_SCRUBBER.scrub_text(stored) == stored
    assert grade_header(stored) == grade_header(header)
    assert nonces(stored) == nonces(stored_form(header))
    assert len(nonces(stored)) == 1
    assert stored_form(stored) == stored


def test_page_resources_read_scripts_styles_and_module_preloads_with_their_integrity() -> None:
    digest = hashlib.sha384(b"asset").digest()
    html = (f'<script src="/_liveobs/liveobs.js" integrity="sha384-{base64.b64encode(digest).decode()}"></script>'
            '<script src="https://cdn.example/a.js" integrity="sha256-"></script>'
            '<link rel="modulepreload" href="https://cdn.example/evil.mjs">'
            '<link rel="stylesheet" href="/site.css"><link rel="icon" href="/x.ico"><script>inline()</script>')
    found = page_resources(html)
    assert [(r.tag, r.url) for r in found] == [("script", "/_liveobs/liveobs.js"), ("script", "https://cdn.example/a.js"),
                                               ("link", "https://cdn.example/evil.mjs"), ("link", "/site.css")]
    assert found[0].integrity == (f"sha384-{digest.hex()}",)
    assert found[1].integrity == ("sha256-invalid",)
    problems = judge_resources(found, "http://app.example")
    assert problems == ["https://cdn.example/a.js: malformed integrity", "https://cdn.example/evil.mjs: no integrity"]


def test_sri_must_match_the_served_asset_and_the_asset_must_answer() -> None:
    body = b"console.log(1)"
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    page = page_resources(f'<script src="/_liveobs/liveobs.js" integrity="{integrity}"></script>')
    origin = "http://app.example"
    assert judge_resources(page, origin, [Served("/_liveobs/liveobs.js", 200, asset_digests(body))]) == []
    assert judge_resources(page, origin, [Served("/_liveobs/liveobs.js", 200, asset_digests(b"changed"))]) == [
        "/_liveobs/liveobs.js: integrity does not match the served asset"]
    assert judge_resources(page, origin, [Served("http://app.example/_liveobs/liveobs.js?v=2", 404)]) == [
        "/_liveobs/liveobs.js: the asset answered 404"]


def test_a_page_without_cross_origin_or_client_scripts_needs_no_sri() -> None:
    assert not needs_sri(page_resources("<p>maintenance</p><script>inline()</script>"), "http://a.example")
    assert not needs_sri(page_resources('<script src="/static/app.js"></script>'), "http://a.example")
    assert needs_sri(page_resources('<script src="//cdn.example/x.js"></script>'), "http://a.example")


def test_the_eicar_canary_is_recognised_with_trailing_whitespace_only() -> None:
    assert canary_of(EICAR) == "eicar"
    assert canary_of(EICAR + b"\r\n") == "eicar"
    assert canary_of(EICAR + b"more") is None
    assert canary_of(b"hello") is None
    assert upload_digest(EICAR) in EICAR_DIGESTS
