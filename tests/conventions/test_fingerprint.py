"""The error fingerprint groups occurrences of one failure and separates others."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from liveobs.conventions import error_fingerprint, message_template


def test_message_template_masks_values() -> None:
    msg = "card 'groceries' 42 not found for 0x1f3a in 4bf92f3577b34da6 id 018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f4a5b"
    assert message_template(msg) == "card <str> <num> not found for <hex> in <hex> id <uuid>"


def test_same_failure_with_other_values_has_one_fingerprint() -> None:
    a = error_fingerprint("kukulkan", "KeyError", "no card 'a1' in column 3")
    b = error_fingerprint("kukulkan", "KeyError", "no card 'zz9'   in column 17")
    assert a == b
    assert len(a) == 16


def test_service_class_and_frame_separate_fingerprints() -> None:
    base = error_fingerprint("kukulkan", "KeyError", "no card")
    assert base != error_fingerprint("other", "KeyError", "no card")
    assert base != error_fingerprint("kukulkan", "ValueError", "no card")
    framed = error_fingerprint("kukulkan", "KeyError", "no card 1", top_frame="board:move")
    assert framed == error_fingerprint("kukulkan", "KeyError", "other text", top_frame="board:move")


@given(st.text(), st.text(), st.text())
def test_fingerprint_never_raises(service: str, cls: str, message: str) -> None:
    assert len(error_fingerprint(service, cls, message)) == 16
