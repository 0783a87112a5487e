"""Recall over the secret corpus and survival of the harmless corpus, through the shared rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redaction_corpus import SECRET_KEYS, harmless_corpus, secret_corpus

from liveobs.correlator._scrub import KEY_SCAN, IngestScrubber
from liveobs.redaction import DEFAULT_SCRUBBER, FORMATS, VENDORS, CachedScrubber, Scrubber

SECRETS = secret_corpus()
HARMLESS = harmless_corpus()


def test_the_corpora_cover_every_catalogued_format_and_are_large_enough() -> None:
    kinds = {kind for kind, _, _ in SECRETS}
    assert {f.kind for f in (*FORMATS, *VENDORS)} <= kinds
    assert len(kinds) >= 150
    assert len(HARMLESS) >= 150


@pytest.mark.parametrize(("kind", "text", "secret"), SECRETS, ids=[k for k, _, _ in SECRETS])
def test_every_secret_format_is_removed(kind: str, text: str, secret: str) -> None:
    cleaned = DEFAULT_SCRUBBER.scrub_text(text)
    assert secret not in cleaned
    assert "[REDACTED:" in cleaned


def test_harmless_values_survive_and_the_count_is_reported() -> None:
    changed = [v for v in HARMLESS if DEFAULT_SCRUBBER.scrub_text(v) != v]
    print(f"\nharmless corpus: {len(HARMLESS) - len(changed)} of {len(HARMLESS)} survive")
    assert changed == []


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_key_names_in_every_case_style(key: str) -> None:
    assert DEFAULT_SCRUBBER.scrub_mapping({key: "v4lue"}) == {key: "[REDACTED:key]"}


@pytest.mark.parametrize("key", ["token_count", "max_tokens", "prompt_tokens", "session.id", "liveobs.event.id",
                                 "keyboard", "monkey", "route", "passenger_count", "author"])
def test_names_that_only_resemble_secret_keys_keep_their_values(key: str) -> None:
    assert not DEFAULT_SCRUBBER.secret_key(key)


def test_the_cache_holds_clean_texts_only_and_is_bounded_in_bytes() -> None:
    cache = CachedScrubber(max_bytes=20_000)
    secret = SECRETS[0][1]
    assert cache.text(secret) != secret
    assert secret not in cache._texts  # a text that held a secret is never remembered
    for i in range(2_000):
        cache.text(f"ordinary log line number {i} " + "x" * 40)
        assert cache.cached_bytes <= 20_000
    assert cache.text("x" * 5_000) == "x" * 5_000
    assert "x" * 5_000 not in cache._texts  # too long to remember


@given(st.text(alphabet=st.characters(blacklist_characters=" \t\n\r\x0b\x0c=:@", blacklist_categories=("Zs", "Zl", "Zp", "Cc")),
               max_size=14) | st.from_regex(r"[0-9a-f\-]{0,128}", fullmatch=True))
def test_the_fast_paths_agree_with_the_full_rules(text: str) -> None:
    assert CachedScrubber().text(text) == DEFAULT_SCRUBBER.scrub_text(text)


def test_every_format_needs_at_least_fifteen_characters_for_the_short_fast_path() -> None:
    from liveobs.redaction._formats import min_length

    short = [f.kind for f in (*FORMATS, *VENDORS) if min_length(f) < 15 and not any(
        c in "".join(f.keywords) for c in " =:@")]
    assert short == []


def test_ingest_scans_the_id_keys_values_whoever_sent_them_and_keeps_liveobs_ids() -> None:
    ingest = IngestScrubber()
    for key in ("session.id", "liveobs.request.id", "liveobs.event.id"):
        assert ingest.key_kind(key) == KEY_SCAN
    secret = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    assert secret not in ingest.value("session.id", f"sessionid={secret}")
    assert secret not in ingest.value("session.id", secret)
    for value in HARMLESS[:60]:
        assert ingest.value("session.id", value) == value


def test_extra_patterns_still_apply() -> None:
    scrubber = Scrubber(extra_value_patterns=[("ticket", r"TKT-\d{6}")])
    assert scrubber.scrub_text("see TKT-123456") == "see [REDACTED:ticket]"
    assert not scrubber.default_rules
