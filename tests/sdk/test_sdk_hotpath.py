"""The cheap paths of a live event give exporters exactly what the SDK's own paths give them."""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Sequence
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.context import Context
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags

import liveobs.sdk
from liveobs.conventions import keys
from liveobs.sdk import _compat
from liveobs.sdk._dropped import CountingBatchLogRecordProcessor, DropCounter
from liveobs.sdk._logbridge import BridgedLoggerProvider
from liveobs.sdk._span import LeanSpan, lean_tracer, link, start_span


def _memory() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # untyped upstream


REMOTE = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(1))


def _exported(provider: TracerProvider, exporter: InMemorySpanExporter) -> dict[str, Any]:
    (span,) = exporter.get_finished_spans()
    return {
        "name": span.name, "kind": span.kind, "attributes": dict(span.attributes or {}),
        "parent": span.parent, "status": (span.status.status_code, span.status.description),
        "events": [(e.name, {k: v for k, v in (e.attributes or {}).items() if k != "exception.stacktrace"})
                   for e in span.events],
        "links": [(ln.context, dict(ln.attributes or {})) for ln in span.links],
        "resource": dict(span.resource.attributes), "scope": span.instrumentation_scope,
        "ended_after_start": (span.end_time or 0) >= (span.start_time or 0),
        "trace_flags": span.context.trace_flags if span.context else None,
    }


def _one_span(lean: bool) -> dict[str, Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hotpath")
    attributes: dict[str, Any] = {keys.EVENT_ID: "01J0000000000000000000000A", keys.EVENT_SEQ: 3}
    links = [link(REMOTE, {keys.LINK_KIND: "connection"})]
    if lean:
        span = start_span(tracer, "live.event add", context=Context(), kind=SpanKind.SERVER,
                          attributes=dict(attributes), links=links)
        assert isinstance(span, LeanSpan)
    else:
        span = tracer.start_span("live.event add", context=Context(), kind=SpanKind.SERVER,
                                 attributes=dict(attributes), links=links)
    span.set_attribute("app.list", ["a", "b"])
    span.set_attributes({"app.count": 2, "app.flag": True})
    span.update_name("live.event add_card")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        span.record_exception(exc, attributes={keys.ERROR_TYPE: "ValueError"})
    span.set_status(StatusCode.ERROR, "ValueError")
    span.end()
    span.set_attribute("too.late", 1)
    provider.shutdown()
    return _exported(provider, exporter)


def test_a_lean_span_exports_what_an_sdk_span_exports() -> None:
    lean, sdk = _one_span(lean=True), _one_span(lean=False)
    assert lean == sdk
    assert lean["attributes"]["app.list"] == ("a", "b")
    assert [name for name, _ in lean["events"]] == ["exception"]
    assert "too.late" not in lean["attributes"]


def test_a_lean_span_honours_the_sampler_and_string_limits() -> None:
    exporter = InMemorySpanExporter()
    dropping = TracerProvider(sampler=ALWAYS_OFF)
    dropping.add_span_processor(SimpleSpanProcessor(exporter))
    span = start_span(dropping.get_tracer("x"), "s", context=None, kind=SpanKind.INTERNAL, attributes={})
    assert not span.is_recording()
    assert span.get_span_context().is_valid
    span.end()
    assert exporter.get_finished_spans() == ()
    limited = TracerProvider(span_limits=SpanLimits(max_span_attribute_length=4))
    assert not lean_tracer(limited.get_tracer("x"))  # such limits take the SDK path, which truncates
    assert lean_tracer(TracerProvider().get_tracer("x"))


def test_a_lean_span_parented_by_a_trusted_context_joins_its_trace() -> None:
    from opentelemetry import trace

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    parent = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE), Context())
    span = start_span(provider.get_tracer("x"), "s", context=parent, kind=SpanKind.SERVER, attributes={})
    span.end()
    (exported,) = exporter.get_finished_spans()
    assert exported.context is not None
    assert exported.context.trace_id == REMOTE.trace_id
    assert exported.parent == REMOTE


class _Seen(SpanProcessor):
    """A processor that notes what it is called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.calls.append(("start", span.name))

    def _on_ending(self, span: Any) -> None:
        self.calls.append(("ending", span.name))

    def on_end(self, span: Any) -> None:
        self.calls.append(("end", span.name))


def test_liveobs_alone_ends_its_lean_spans_straight_into_its_export_and_an_added_processor_sees_the_next() -> None:
    exporter = InMemorySpanExporter()
    telemetry = liveobs.sdk.configure("direct", span_exporter=exporter, log_file=io.StringIO(), set_global=False,
                                      batch=False)
    provider = telemetry.tracer_provider
    chain = provider._active_span_processor  # the SDK's, watched here
    passed: list[str] = []
    real_on_end = chain.on_end

    def watched(span: Any) -> None:
        passed.append(span.name)
        real_on_end(span)

    chain.on_end = watched  # type: ignore[method-assign]
    first = start_span(telemetry.tracer, "live.event one", context=Context(), kind=SpanKind.SERVER, attributes={})
    first.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["live.event one"]
    assert passed == []  # liveobs's processor is the only one: the chain was not walked
    seen = _Seen()
    provider.add_span_processor(seen)
    second = start_span(telemetry.tracer, "live.event two", context=Context(), kind=SpanKind.SERVER, attributes={})
    second.end()
    assert [s.name for s in exporter.get_finished_spans()] == ["live.event one", "live.event two"]
    assert passed == ["live.event two"]
    expected = [("start", "live.event two"), ("end", "live.event two")]
    if _compat.features().on_ending:
        expected.insert(1, ("ending", "live.event two"))
    assert seen.calls == expected
    liveobs.sdk.shutdown()


def test_set_number_is_set_attribute_for_counts() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=32))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = start_span(provider.get_tracer("x"), "s", context=Context(), kind=SpanKind.SERVER,
                      attributes={f"a{i}": i for i in range(31)})
    assert isinstance(span, LeanSpan)
    span.set_number("patch", 10)
    span.set_number("patch", 12)  # an existing key is replaced even on a full span
    span.set_number("one.too.many", 1)
    span.end()
    span.set_number("after.end", 1)
    (exported,) = exporter.get_finished_spans()
    attributes = exported.attributes or {}
    assert attributes["patch"] == 12
    assert "one.too.many" not in attributes
    assert "after.end" not in attributes
    assert exported.dropped_attributes == 1


@pytest.mark.parametrize(("present", "ended"), [(29, False), (30, False), (31, False), (32, False), (3, True)])
def test_set_numbers_is_set_number_twice(present: int, ended: bool) -> None:
    def exported(both: bool) -> tuple[dict[str, Any], int]:
        exporter = InMemorySpanExporter()
        provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=32))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        span = start_span(provider.get_tracer("x"), "s", context=Context(), kind=SpanKind.SERVER,
                          attributes={f"a{i}": i for i in range(present)})
        assert isinstance(span, LeanSpan)
        if ended:
            span.end()
        if both:
            span.set_numbers("patch", 10, "a0" if present == 32 else "compressed", 4)
        else:
            span.set_number("patch", 10)
            span.set_number("a0" if present == 32 else "compressed", 4)
        if not ended:
            span.end()
        (ended_span,) = exporter.get_finished_spans()
        return dict(ended_span.attributes or {}), ended_span.dropped_attributes

    assert exported(both=True) == exported(both=False)


def test_the_default_sampler_is_answered_as_it_would_answer_itself() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import DEFAULT_ON, ParentBased, TraceIdRatioBased
    from opentelemetry.trace import TraceState

    state = TraceState([("vendor", "abc")])
    parents = [None] + [
        SpanContext(REMOTE.trace_id, REMOTE.span_id, remote, TraceFlags(flags), state)
        for remote in (True, False) for flags in (0, 1)
    ]

    def outcome(sampler: Any, parent: SpanContext | None) -> tuple[Any, ...]:
        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent), Context()) if parent else Context()
        span = start_span(provider.get_tracer("x"), "s", context=context, kind=SpanKind.SERVER, attributes={"a": 1})
        span.end()
        ctx = span.get_span_context()
        exported = [(dict(x.attributes or {}), x.parent) for x in exporter.get_finished_spans()]
        return span.is_recording() or bool(exported), ctx.trace_flags, ctx.trace_state, exported

    # The same sampler, once recognised as the default and once hidden behind a subclass.
    class Disguised(ParentBased):
        pass

    for parent in parents:
        assert outcome(DEFAULT_ON, parent) == outcome(Disguised(DEFAULT_ON._root), parent)
    assert outcome(DEFAULT_ON, parents[1])[0] is False  # a remote parent that was not sampled
    assert outcome(DEFAULT_ON, None)[1].sampled
    ratio = ParentBased(TraceIdRatioBased(0.0))  # not the default: asked, and it drops new traces
    assert outcome(ratio, None)[0] is False


class _Slow(LogRecordExporter):
    def __init__(self) -> None:
        self.count = 0
        self.release = threading.Event()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.release.wait(5)
        self.count += len(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_the_direct_bridge_path_counts_every_record_a_full_queue_drops() -> None:
    drops, exporter = DropCounter(), _Slow()
    processor = CountingBatchLogRecordProcessor(exporter, drops, max_queue_size=8, max_export_batch_size=4,
                                                schedule_delay_millis=60_000)
    provider = BridgedLoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(processor)
    sink = processor.direct_sink()
    assert sink is not None
    provider.feed_directly(sink)
    bridge = liveobs.sdk.LogBridge(provider, redacted=True)
    try:
        for i in range(100):
            bridge(None, "info", {"event": f"line {i}", "level": "info"})
    finally:
        exporter.release.set()
        processor.force_flush()
        provider.shutdown()
    assert exporter.count + drops.counts()["logs"] == 100
    assert drops.counts()["logs"] > 0


def test_the_bridge_gives_the_same_record_directly_and_through_logger_emit() -> None:
    def records(direct: bool) -> list[dict[str, Any]]:
        exporter = _memory()
        provider = BridgedLoggerProvider(shutdown_on_exit=False)
        processor = CountingBatchLogRecordProcessor(exporter, DropCounter())
        provider.add_log_record_processor(processor)
        sink = processor.direct_sink()
        if direct and sink is not None:
            provider.feed_directly(sink)
        assert (provider.direct is not None) is direct
        log = structlog.wrap_logger(structlog.WriteLogger(io.StringIO()), processors=liveobs.sdk.liveobs_processors(
            bridge=liveobs.sdk.LogBridge(provider, redacted=True)))
        with liveobs.sdk.bind_ids(event_id="01J0000000000000000000000B", route_id="/board/{id}"):
            log.warning("card added", count=2, tags=["a"], token="s3cr3t-value-of-a-token", event_name="browser.action")
        processor.force_flush()
        provider.shutdown()
        return [{
            "body": r.log_record.body, "severity": (r.log_record.severity_number, r.log_record.severity_text),
            "attributes": dict(r.log_record.attributes or {}), "event_name": r.log_record.event_name,
            "scope": r.instrumentation_scope, "resource": dict(r.resource.attributes),
        } for r in exporter.get_finished_logs()]

    direct, emitted = records(True), records(False)
    assert direct == emitted
    (record,) = direct
    assert record["attributes"][keys.EVENT_ID] == "01J0000000000000000000000B"
    assert record["attributes"]["tags"] == ("a",)
    assert "s3cr3t" not in str(record)


def test_adding_a_processor_sends_bridge_records_through_it() -> None:
    seen: list[str] = []

    class Watching(CountingBatchLogRecordProcessor):
        def on_emit(self, log_record: Any) -> None:
            seen.append(str(log_record.log_record.body))

    provider = BridgedLoggerProvider(shutdown_on_exit=False)
    first = CountingBatchLogRecordProcessor(_memory(), DropCounter())
    provider.add_log_record_processor(first)
    sink = first.direct_sink()
    assert sink is not None
    provider.feed_directly(sink)
    provider.add_log_record_processor(Watching(_memory(), DropCounter()))
    liveobs.sdk.LogBridge(provider, redacted=True)(None, "info", {"event": "hello", "level": "info"})
    provider.shutdown()
    assert seen == ["hello"]


def test_a_reply_object_is_spliced_as_valid_json_for_any_event_id(configured: Any) -> None:
    import json

    for event_id in ("01J0000000000000000000000C", 'odd "id"'):
        with liveobs.sdk.live_event("add", event_id=event_id) as event:
            text = event.reply_json(120, 80)
        lo = json.loads(text)
        assert (lo["event_id"], lo["ok"], lo["patch_bytes"]) == (event_id, True, 120)
        assert lo["trace_id"] == f"{event.span.get_span_context().trace_id:032x}"


# --- orjson on the hot path: the same verdicts and the same lines as the standard library ---------------------

ENVELOPE_CASES: list[str | bytes] = [
    '{"action": "add", "lo": {"event_id": "0190f5c2-7a1b-7c3d-8e4f-a1b2c3d4e5f6", "seq": 3, "event_name": "add"}}',
    '{"lo": {"event_id": "bad id\\n", "seq": -1, "route_id": "/board/{id}"}}',
    '{"lo": {"event_id": "ok-1", "client_time": NaN}}',  # NaN: orjson refuses, json takes it
    '{"lo": {"event_id": "ok-2", "seq": 123456789012345678901234567890}}',  # beyond 64 bits
    '{"lo": "not an object"}',
    '{"lo": {"event_id": "\\ud800"}}',  # a lone surrogate
    '[1, 2, 3]',
    "not json at all",
    '{"no_envelope": true}',
    '{"lo": {"event_id": "dup-1"}, "lo": {"event_id": "dup-2"}}',
    '{"lo": {"event_id": "utf16"}}'.encode("utf-16"),
    b'{"lo": {"event_id": "bytes-1", "session_id": "k1.abc"}}',
    "[" * 5000 + "]" * 5000,
]


def _comparable(envelope: Any) -> Any:
    if envelope is None:
        return None
    # A minted event id is fresh on every parse; whether it was minted is what must agree.
    return (None if envelope.event_id_minted else envelope.event_id, envelope.event_id_minted, envelope.event_name,
            envelope.seq, envelope.session_id, envelope.connection_id, envelope.route_id, envelope.traceparent,
            envelope.client_time_ms, envelope.rejected)


def test_the_websocket_envelope_decoder_agrees_with_the_standard_library_parse() -> None:
    from liveobs.conventions import parse_message
    from liveobs.sdk._websocket import _envelope

    for data in ENVELOPE_CASES:
        assert _comparable(_envelope(data, 1 << 20)) == _comparable(parse_message(data, 1 << 20).envelope), data


def test_json_lines_render_with_orjson_and_fall_back_for_what_it_refuses() -> None:
    import json

    from liveobs.sdk._processors import render_json

    line = {"event": "añadido ✓", "level": "info", "n": 3, "x": 1.5, "ok": True, "none": None, "ids": ["a", "b"]}
    assert json.loads(render_json(line)) == line
    huge = {"event": "big", "n": 2**70}
    assert json.loads(render_json(huge)) == huge

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    assert json.loads(render_json({"event": "x", "obj": Opaque()}, default=repr)) == {"event": "x", "obj": "<opaque>"}


def test_the_timestamp_is_the_utc_iso_time_structlog_would_write() -> None:
    import datetime

    from liveobs.sdk._processors import add_timestamp

    before = datetime.datetime.now(datetime.UTC)
    stamped = add_timestamp(None, "info", {})["timestamp"]
    after = datetime.datetime.now(datetime.UTC)
    reference = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]
    assert stamped.endswith("Z")
    assert reference.endswith("Z")
    assert len(stamped) == len("2026-11-27T21:01:04.123456Z")
    parsed = datetime.datetime.fromisoformat(stamped)
    assert before - datetime.timedelta(microseconds=1) <= parsed <= after
    assert abs(parsed - datetime.datetime.fromisoformat(reference)) < datetime.timedelta(seconds=1)


def test_threads_racing_into_a_full_span_queue_lose_nothing_uncounted() -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    from liveobs.sdk._dropped import CountingBatchSpanProcessor

    class Counting(InMemorySpanExporter):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.n += len(spans)
            return SpanExportResult.SUCCESS

    drops, exporter = DropCounter(), Counting()
    processor = CountingBatchSpanProcessor(exporter, drops, max_queue_size=64, max_export_batch_size=16,
                                           schedule_delay_millis=1)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("race")

    def burst() -> None:
        for i in range(3000):
            tracer.start_span(f"s{i}").end()

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    processor.force_flush()
    provider.shutdown()
    assert exporter.n + drops.counts()["spans"] == 12_000
    assert exporter.n > 0


def test_no_flag_lets_a_span_skip_the_exporters_scrubbing() -> None:
    from liveobs.sdk import FastScrubber, RedactingSpanExporter

    secret = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    scrub = FastScrubber()

    def export(vetted_by: object, touch: Any = None) -> Any:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exporter, scrub)))
        # A caller that vouches for attributes it never checked, even with the exporter's own scrubber.
        span = start_span(provider.get_tracer("x"), "live.event add", context=Context(), kind=SpanKind.SERVER,
                          attributes={keys.EVENT_ID: "01J0000000000000000000000A", "note": secret},
                          vetted_by=vetted_by)
        if touch is not None:
            touch(span)
        span.end()
        (exported,) = exporter.get_finished_spans()
        return exported

    for vouch in (scrub, FastScrubber(), None):
        exported = export(vouch)
        assert secret not in str(dict(exported.attributes or {}))
        assert exported.attributes[keys.EVENT_ID] == "01J0000000000000000000000A"
    touched = export(scrub, lambda span: span.set_number("n", 3) or span.set_attribute("app.token", secret))
    assert secret not in str(dict(touched.attributes or {}))
    renamed = export(scrub, lambda span: span.update_name(f"live.event {secret}"))
    assert secret not in renamed.name
    evented = export(scrub, lambda span: span.add_event(f"x {secret}", {"why": secret}))
    assert secret not in str([(e.name, dict(e.attributes or {})) for e in evented.events])
    linked = export(scrub, lambda span: span.add_link(span.get_span_context(), {"why": secret, "password": "pw"}))
    (link,) = linked.links
    assert secret not in str(dict(link.attributes or {}))
    assert link.attributes["password"] == "[REDACTED:key]"
    clean = export(scrub)
    assert export(scrub).attributes == clean.attributes



def test_the_sdk_scrubber_remembers_the_ids_it_passed_and_never_a_secret() -> None:
    from liveobs.redaction import Scrubber
    from liveobs.sdk import FastScrubber

    scrub, plain = FastScrubber(), Scrubber()
    ids = ["01a245b4-256d-7c9d-b263-3da31c76931a", "0190a1b2c3d47e5f8a9b0c1d2e3f0000", "4bf92f3577b34da6"]
    for text in ids:
        before = scrub.cached_bytes
        assert scrub.text(text) == text == plain.scrub_text(text)
        assert scrub.cached_bytes > before  # remembered: its next check at export is a lookup
        after = scrub.cached_bytes
        assert scrub.text(text) == text
        assert scrub.cached_bytes == after
    secret = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    for text in (secret, f"token {secret}", "01A245B4-256D" + secret.lower()):
        before = scrub.cached_bytes
        assert scrub.text(text) == plain.scrub_text(text)
        assert scrub.cached_bytes == before  # a text the rules change is never kept
    assert secret not in scrub.text(secret)
    # Not lower-case hex (or too long): the scrubber's own path, as before.
    for text in ("01A245B4-256D-7C9D-B263-3DA31C76931A", "a" * 129):
        assert scrub.text(text) == plain.scrub_text(text)


_SECRET = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
_ATTRIBUTE_VALUES = st.one_of(
    st.sampled_from(["add_card", "/board/{id}", "01a245b4-256d-7c9d-b263-3da31c76931a", _SECRET, f"token={_SECRET}",
                     "", "x" * 200]),
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
    st.lists(st.sampled_from(["a", _SECRET]), max_size=2), st.tuples(st.sampled_from(["a", _SECRET])),
)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["liveobs.event.name", "liveobs.route.id", "password", "app.note", "seq"]),
                       _ATTRIBUTE_VALUES, max_size=5), st.booleans())
def test_the_sdk_scrubbers_clean_check_agrees_with_the_shared_one(mapping: dict[str, Any], warm: bool) -> None:
    from liveobs.redaction import CachedScrubber
    from liveobs.sdk import FastScrubber

    scrub = FastScrubber()
    if warm:  # values and keys seen before: the short first pass answers from the cache
        for key, value in mapping.items():
            scrub.value(key, value)
    expected = CachedScrubber.clean_mapping(scrub, mapping)
    assert scrub.clean_mapping(mapping) is expected
    if expected:  # clean: scrubbing changes nothing
        assert scrub.mapping(mapping) == mapping


def test_liveobs_links_are_read_only_and_cleaned_as_the_sdk_cleans_them() -> None:
    from opentelemetry.attributes import BoundedAttributes

    given = {keys.LINK_KIND: "connection", "app.tags": ["a", "b"], "app.n": 3}
    made = link(REMOTE, given)
    assert dict(made.attributes or {}) == dict(BoundedAttributes(None, given)) == {
        keys.LINK_KIND: "connection", "app.tags": ("a", "b"), "app.n": 3}
    with pytest.raises(TypeError):
        made.attributes[keys.LINK_KIND] = "other"  # type: ignore[index]  # read-only by design
    with pytest.raises(TypeError):
        made.attributes.update({keys.LINK_KIND: "other"})  # type: ignore[union-attr]  # read-only by design
    copied = copy.deepcopy(made)  # exporters that keep a copy of a span can
    assert dict(copied.attributes or {}) == dict(made.attributes or {})
    with pytest.raises(TypeError):
        copied.attributes[keys.LINK_KIND] = "other"  # type: ignore[index]  # still read-only

@settings(max_examples=300, deadline=None)
@given(trace_id=st.integers(0, 2**128 - 1), span_id=st.integers(0, 2**64 - 1), flags=st.integers(0, 255))
def test_hex_ids_are_the_zero_padded_hex_of_the_ids(trace_id: int, span_id: int, flags: int) -> None:
    from liveobs.sdk._span import hex_ids

    context = SpanContext(trace_id, span_id, False, TraceFlags(flags))
    assert hex_ids(context) == (f"{trace_id:032x}", f"{span_id:016x}", f"{flags:02x}")


@pytest.mark.parametrize("vetted", [True, False])
def test_an_ended_lean_span_is_filled_in_as_the_constructor_fills_it(monkeypatch: Any, vetted: bool) -> None:
    import dataclasses

    from liveobs.sdk import FastScrubber, _compat

    scrub = FastScrubber()
    found = _compat.detect()

    def ended(fill: bool) -> dict[str, Any]:
        monkeypatch.setattr(_compat, "_detected", dataclasses.replace(found, fill_span=fill))
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        span = start_span(provider.get_tracer("x"), "live.event add", context=Context(), kind=SpanKind.SERVER,
                          attributes={keys.EVENT_ID: "01J0000000000000000000000A"}, links=[link(REMOTE, {})],
                          start_time=5, vetted_by=scrub if vetted else None)
        span.end(end_time=9)
        (readable,) = exporter.get_finished_spans()
        fields = {k: v for k, v in vars(readable).items() if k != "_context"}
        return {**fields, "trace": readable.context is not None, "to_json": len(readable.to_json())}

    assert found.fill_span  # the SDK installed here has the plain ReadableSpan
    filled, constructed = ended(True), ended(False)
    assert set(filled) == set(constructed)
    assert {k: v for k, v in filled.items() if k not in ("_links", "_resource", "_instrumentation_info",
                                                            "_instrumentation_scope")} == \
        {k: v for k, v in constructed.items() if k not in ("_links", "_resource", "_instrumentation_info",
                                                            "_instrumentation_scope")}
    assert filled.get("vetted_by") is (scrub if vetted else None)


@settings(max_examples=300, deadline=None)
@given(ns=st.integers(0, 2**63 - 1))
def test_reply_times_are_exact_milliseconds(ns: int) -> None:
    from decimal import Decimal

    from liveobs.conventions import ms_text as _ms_text

    assert Decimal(_ms_text(ns)) == Decimal(ns) / Decimal(1_000_000)
