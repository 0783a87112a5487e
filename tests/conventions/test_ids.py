"""Id minting and validation: every outside value is checked, nothing raises."""

from __future__ import annotations

import re
import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from liveobs.conventions import (
    MAX_ID_LENGTH,
    id_or_mint,
    mint_event_id,
    mint_request_id,
    parse_traceparent,
    uuid7,
    valid_id,
)

_ACCEPTED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
hostile_text = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "replace")),
    st.binary().map(lambda b: b.decode("latin-1")),
    st.text(alphabet=st.characters(max_codepoint=0x1F)),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(100, 300_000)),
    st.from_regex(r"[A-Za-z0-9]{1,20}[\r\n\t\x00 \"'<>][A-Za-z0-9]{0,20}", fullmatch=True),
)


def test_uuid7_has_version_variant_and_time_order() -> None:
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert first < second
    assert abs((first.int >> 80) - time.time_ns() // 1_000_000) < 5_000


def test_minted_ids_are_valid_and_unique() -> None:
    ids = {mint_event_id() for _ in range(2_000)} | {mint_request_id() for _ in range(2_000)}
    assert len(ids) == 4_000
    assert all(valid_id(i) == i for i in ids)


def test_valid_id_accepts_common_formats() -> None:
    for value in ("01J9Z8QK3M7T0V6X2B4N5P8R1S", str(uuid.uuid4()), "req-42", "a", "x" * MAX_ID_LENGTH):
        assert valid_id(value) == value


def test_valid_id_rejects_oversized_and_non_strings() -> None:
    assert valid_id("x" * (MAX_ID_LENGTH + 1)) is None
    for value in (None, 42, b"abc", ["a"], {"a": 1}, "", "-leading-dash", "has space", "line\nbreak"):
        assert valid_id(value) is None


@given(hostile_text)
def test_valid_id_never_raises_and_accepts_only_the_charset(value: str) -> None:
    accepted = valid_id(value)
    if accepted is not None:
        assert accepted == value
        assert _ACCEPTED.fullmatch(accepted)
        assert len(accepted) <= MAX_ID_LENGTH


@given(hostile_text)
def test_id_or_mint_always_returns_a_valid_id(value: str) -> None:
    result, accepted = id_or_mint(value)
    assert valid_id(result) == result
    assert accepted == (result == value)
    assert "\n" not in result
    assert "\x00" not in result


def test_parse_traceparent_reads_version_00_and_future_versions() -> None:
    tp = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert tp is not None
    assert (tp.trace_id, tp.span_id, tp.sampled) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)
    assert tp.header() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    future = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes-next")
    assert future is not None
    assert not future.sampled


def test_parse_traceparent_rejects_invalid_values() -> None:
    for value in (
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "x" * 10_000,
        None,
        17,
    ):
        assert parse_traceparent(value) is None


@given(hostile_text)
def test_parse_traceparent_never_raises(value: str) -> None:
    tp = parse_traceparent(value)
    if tp is not None:
        assert re.fullmatch(r"[0-9a-f]{32}", tp.trace_id)
        assert re.fullmatch(r"[0-9a-f]{16}", tp.span_id)
