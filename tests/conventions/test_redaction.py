"""The shared redaction rules: secrets go, ids and ordinary values stay."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from liveobs.redaction import DEFAULT_SCRUBBER, Scrubber

GITHUB = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"


def test_secret_keys_lose_their_whole_value_but_ids_stay() -> None:
    out = DEFAULT_SCRUBBER.scrub_mapping(
        {"password": "hunter2", "X-Api-Key": "abc", "liveobs.event.id": "e1", "session.id": "s1", "n": 3}
    )
    assert out == {
        "password": "[REDACTED:key]",
        "X-Api-Key": "[REDACTED:key]",
        "liveobs.event.id": "e1",
        "session.id": "s1",
        "n": 3,
    }


def test_secret_values_are_replaced_inside_text_and_nested_json() -> None:
    text = f"push failed with {GITHUB} to postgres://app:s3cretpw@db:5432/x"
    cleaned = DEFAULT_SCRUBBER.scrub_text(text)
    assert GITHUB not in cleaned
    assert "s3cretpw" not in cleaned
    assert "[REDACTED:github_pat]" in cleaned
    assert "[REDACTED:url_password]" in cleaned
    nested = DEFAULT_SCRUBBER.scrub({"ctx": [{"payload": json.dumps({"token": "t0ps3cret", "ok": 1})}]})
    assert "t0ps3cret" not in json.dumps(nested)


def test_extra_patterns_are_configurable() -> None:
    scrubber = Scrubber(extra_value_patterns=[("ticket", r"TKT-\d{6}")], extra_key_patterns=[r"^pin$"])
    assert scrubber.scrub_mapping({"note": "see TKT-123456", "pin": "1234"}) == {
        "note": "see [REDACTED:ticket]",
        "pin": "[REDACTED:key]",
    }


def test_harmless_values_survive() -> None:
    harmless = [
        "018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a5b",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "/board/{board_id}/card/{card_id}",
        "v1.4.2-rc.1",
        "The quick brown fox jumps over the lazy dog",
    ]
    for value in harmless:
        assert DEFAULT_SCRUBBER.scrub_text(value) == value


@given(st.recursive(st.text() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=30))
def test_scrub_never_raises(value: object) -> None:
    DEFAULT_SCRUBBER.scrub(value)
