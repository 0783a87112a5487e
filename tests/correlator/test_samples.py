"""The shipped sample spans look like what the SDK sends."""

from __future__ import annotations

from liveobs.conventions import keys
from liveobs.correlator._samples import sample_spans_request
from liveobs.sdk._live import _span_name


def test_the_sample_names_a_live_event_span_as_the_sdk_does() -> None:
    spans = sample_spans_request(8).resource_spans[0].scope_spans[0].spans
    event = spans[0]
    name = next(a.value.string_value for a in event.attributes if a.key == keys.EVENT_NAME)
    assert event.name == _span_name(name)
    assert [s.name for s in spans].count(_span_name(name)) == 2  # one per trace of four spans
