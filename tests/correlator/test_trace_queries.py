"""Trace lookups against real DuckDB stores: a generated store of realistic shape, and hand-made edge cases."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

from liveobs.conventions import keys
from liveobs.correlator import AmbiguousIdError, NotFoundError, ReadRequestError, TraceResult, render_html
from liveobs.correlator._db import connect
from liveobs.correlator._readapi import read_handlers
from liveobs.correlator._trace import trace


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_generator: ModuleType) -> Any:
    path = tmp_path_factory.mktemp("trace") / "store.duckdb"
    return store_generator.generate(path, rows=30_000, seed=11)


@pytest.fixture
def con(store: Any) -> Any:
    connection = duckdb.connect(store.path, read_only=True)
    yield connection
    connection.close()


def root_span(con: duckdb.DuckDBPyConnection, event_id: str) -> dict[str, Any]:
    """The server span that carries ``event_id``, read straight from the exporter table."""
    row = con.execute(
        "SELECT TraceId, SpanAttributes FROM otel_traces WHERE ParentSpanId = '' AND SpanAttributes[?] = ?",
        [keys.EVENT_ID, event_id],
    ).fetchone()
    assert row is not None
    return {"trace_id": row[0], **row[1]}


def test_a_failing_event_id_resolves_to_every_id_and_its_error_class(con: Any, store: Any) -> None:
    result = trace(con, event_id=store.sample_failing_event_id)
    expected = root_span(con, store.sample_failing_event_id)
    assert result.event_id == store.sample_failing_event_id
    assert result.trace_id == expected["trace_id"] == store.sample_failing_trace_id
    assert result.session_id == expected[keys.SESSION_ID]
    assert result.request_id == expected[keys.REQUEST_ID]
    assert result.route_id == expected[keys.ROUTE_ID]
    assert result.connection_id == expected[keys.CONNECTION_ID]
    assert result.error_class == expected[keys.ERROR_TYPE]
    assert result.error_fingerprint == expected[keys.ERROR_FINGERPRINT]
    message = con.execute(
        "SELECT Events.Attributes[1][?] FROM otel_traces WHERE TraceId = ? AND len(Events.Name) > 0",
        [keys.EXCEPTION_MESSAGE, result.trace_id],
    ).fetchone()
    assert message is not None
    assert result.error_message == message[0]
    assert result.release in ("1.4.0", "1.5.0")
    assert result.environment == "production"


def test_the_trace_id_gives_the_same_answer_as_the_event_id(con: Any, store: Any) -> None:
    by_event = trace(con, event_id=store.sample_failing_event_id).to_dict()
    by_trace = trace(con, trace_id=store.sample_failing_trace_id.upper()).to_dict()
    for key in ("resolved_by", "query", "candidates"):
        by_event.pop(key)
        by_trace.pop(key)
    assert by_trace == by_event


def test_a_request_id_with_one_failure_resolves_to_that_failure(con: Any) -> None:
    row = con.execute(
        "SELECT RequestId, any_value(EventId), any_value(TraceId) FROM liveobs_errors WHERE Source = 'span' "
        "GROUP BY RequestId HAVING count(DISTINCT EventId) = 1 LIMIT 1"
    ).fetchone()
    assert row is not None
    request_id, event_id, trace_id = row
    result = trace(con, request_id=request_id)
    assert (result.event_id, result.trace_id, result.request_id) == (event_id, trace_id, request_id)
    assert result.failed
    traces = con.execute(
        "SELECT count(DISTINCT TraceId) FROM liveobs_correlation WHERE RequestId = ? AND Signal = 'span'", [request_id]
    ).fetchone()
    assert traces is not None
    assert len(result.candidates) == min(traces[0], 50)
    assert result.candidates[0].trace_id == trace_id


def test_a_session_id_lists_its_events_failures_first(con: Any, store: Any) -> None:
    result = trace(con, session_id=store.sample_failing_session_id)
    flags = [c.error_class is not None for c in result.candidates]
    assert flags[0]
    assert flags == sorted(flags, reverse=True)
    failing = [c for c in result.candidates if c.error_class]
    assert [c.time_unix_nano for c in failing] == sorted((c.time_unix_nano for c in failing), reverse=True)
    assert result.trace_id == failing[0].trace_id
    assert result.session_id == store.sample_failing_session_id
    total = con.execute(
        "SELECT count(DISTINCT TraceId) FROM liveobs_correlation WHERE SessionId = ? AND Signal = 'span'",
        [store.sample_failing_session_id],
    ).fetchone()
    assert total is not None
    assert len(result.candidates) == min(total[0], 50)


def test_spans_come_as_a_tree_and_logs_interleave_in_time(con: Any, store: Any) -> None:
    result = trace(con, event_id=store.sample_failing_event_id)
    count = con.execute("SELECT count(*) FROM otel_traces WHERE TraceId = ?", [result.trace_id]).fetchone()
    assert count is not None
    assert len(result.spans) == count[0]
    seen: dict[str, int] = {}
    for span in result.spans:
        if span.parent_span_id:
            assert seen[span.parent_span_id] == span.depth - 1
        else:
            assert span.depth == 0
        seen[span.span_id] = span.depth
        assert span.offset_ms >= 0
    logs = con.execute(
        "SELECT count(*) FROM otel_logs WHERE TraceId = ? AND EventName NOT IN (?, ?)",
        [result.trace_id, keys.BROWSER_ACTION_EVENT, keys.BROWSER_ERROR_EVENT],
    ).fetchone()
    assert logs is not None
    assert len(result.logs) == logs[0] > 0
    timeline = result.timeline()
    assert [e.offset_ms for e in timeline] == sorted(e.offset_ms for e in timeline)
    assert {e.kind for e in timeline} == {"span", "log", "browser"}
    assert any(e.failed and e.kind == "span" for e in timeline)


def test_browser_reports_of_the_event_are_attached(con: Any, store: Any) -> None:
    result = trace(con, event_id=store.sample_failing_event_id)
    assert result.browser_action is not None
    assert result.browser_action.attributes[keys.EVENT_ID] == store.sample_failing_event_id
    assert result.browser_action.attributes[keys.BROWSER_LATENCY_MS].isdigit()
    assert [b.attributes[keys.ERROR_TYPE] for b in result.browser_errors] == [result.error_class]
    assert {e.source for e in result.errors} == {"span", "log", "browser"}


def test_the_session_context_has_the_page_render_and_neighbouring_events(con: Any, store: Any) -> None:
    result = trace(con, event_id=store.sample_failing_event_id, context=3)
    assert result.page_render is not None
    assert result.page_render.kind == "page"
    assert result.page_render.offset_ms < 0
    page = con.execute(
        "SELECT TraceId FROM otel_traces WHERE ParentSpanId = '' AND SpanName LIKE 'GET %' AND SpanAttributes[?] = ?",
        [keys.SESSION_ID, result.session_id],
    ).fetchone()
    assert page is not None
    assert result.page_render.trace_id == page[0]
    assert result.browser_action is not None
    assert result.page_render.request_id == result.browser_action.attributes[keys.REQUEST_ID]
    positions = [e.position for e in result.session_events]
    assert positions.count("this") == 1
    assert positions.count("before") <= 3
    assert positions.count("after") <= 3
    this = next(e for e in result.session_events if e.position == "this")
    assert this.event_id == store.sample_failing_event_id
    assert all(e.offset_ms < 0 for e in result.session_events if e.position == "before")


def test_the_json_form_round_trips_to_the_same_result(con: Any, store: Any) -> None:
    result = trace(con, event_id=store.sample_failing_event_id)
    data = json.loads(json.dumps(result.to_dict()))
    for key in ("event_id", "request_id", "session_id", "route_id", "trace_id", "error_class",
                "error_fingerprint", "spans", "logs", "browser"):
        assert key in data
    assert TraceResult.from_dict(data) == result


def test_the_read_handler_answers_as_the_function_does(con: Any, store: Any) -> None:
    handler = read_handlers()["trace"]
    answer = handler(con, {"event_id": store.sample_failing_event_id})
    assert answer == trace(con, event_id=store.sample_failing_event_id).to_dict()
    with pytest.raises(ReadRequestError, match="exactly one"):
        handler(con, {"event_id": store.sample_failing_event_id, "trace_id": store.sample_failing_trace_id})
    with pytest.raises(ReadRequestError, match="context"):
        handler(con, {"event_id": store.sample_failing_event_id, "context": "many"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "exactly one"),
        ({"trace_id": "xyz"}, "not a trace id"),
        ({"trace_id": "0" * 32}, "not a trace id"),
        ({"event_id": "has space"}, "not a valid event id"),
        ({"session_id": "x" * 200}, "not a valid session id"),
    ],
)
def test_malformed_ids_are_refused_with_a_clear_message(con: Any, params: dict[str, str], message: str) -> None:
    with pytest.raises(ReadRequestError, match=message):
        trace(con, **params)


@pytest.mark.parametrize("kind", ["event_id", "request_id", "session_id"])
def test_an_unknown_id_is_not_found(con: Any, kind: str) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(NotFoundError, match=unknown):
        trace(con, **{kind: unknown})


def test_an_unknown_trace_id_is_not_found(con: Any) -> None:
    with pytest.raises(NotFoundError, match="no spans or logs of trace"):
        trace(con, trace_id=uuid.uuid4().hex)


# --- hand-made stores for the edge cases ------------------------------------------------------

T0 = 1_767_700_000_000_000_000


def add_span(
    con: duckdb.DuckDBPyConnection, trace_id: str, span_id: str, attributes: dict[str, str], *,
    parent: str = "", offset_ns: int = 0, duration_ns: int = 1_000_000, message: str | None = None,
    index_bounds: bool = True,
) -> None:
    """One span with its correlation row (and trace bounds), as the collector writes them."""
    ts = T0 + offset_ns
    events: dict[str, list[Any]] = {"Timestamp": [], "Name": [], "Attributes": []}
    if message is not None:
        when = datetime.fromtimestamp(ts / 1e9, UTC).replace(tzinfo=None)
        events = {"Timestamp": [when], "Name": [keys.EXCEPTION_EVENT],
                  "Attributes": [{keys.EXCEPTION_TYPE: "RuntimeError", keys.EXCEPTION_MESSAGE: message}]}
    con.execute(
        "INSERT INTO otel_traces (\"Timestamp\", TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, "
        "ResourceAttributes, SpanAttributes, Duration, StatusCode, StatusMessage, Events) "
        "VALUES (make_timestamp_ns(?), ?, ?, ?, 'op', 'Server', 'svc', MAP {}, ?, ?, ?, ?, ?)",
        [ts, trace_id, span_id, parent, attributes, duration_ns, "Error" if message else "Unset",
         message or "", events],
    )
    con.execute(
        "INSERT INTO liveobs_correlation (\"Timestamp\", Signal, ServiceName, TraceId, SpanId, EventId, SessionId, "
        "RequestId, RouteId, ErrorType) VALUES (make_timestamp_ns(?), 'span', 'svc', ?, ?, ?, ?, ?, ?, ?)",
        [ts, trace_id, span_id, attributes.get(keys.EVENT_ID), attributes.get(keys.SESSION_ID),
         attributes.get(keys.REQUEST_ID), attributes.get(keys.ROUTE_ID), "RuntimeError" if message else None],
    )
    if index_bounds:
        con.execute(
            "INSERT INTO otel_traces_trace_id_ts VALUES (?, make_timestamp_ns(?), make_timestamp_ns(?))",
            [trace_id, ts, ts + duration_ns],
        )


def add_log(
    con: duckdb.DuckDBPyConnection, trace_id: str, body: str, attributes: dict[str, str], *,
    offset_ns: int = 0, event_name: str = "", severity: str = "INFO",
) -> None:
    """One log record with its correlation row, as the collector writes them."""
    ts = T0 + offset_ns
    con.execute(
        "INSERT INTO otel_logs (\"Timestamp\", TraceId, SpanId, SeverityText, ServiceName, Body, LogAttributes, EventName) "
        "VALUES (make_timestamp_ns(?), ?, '', ?, 'svc', ?, ?, ?)",
        [ts, trace_id, severity, body, attributes, event_name],
    )
    con.execute(
        "INSERT INTO liveobs_correlation (\"Timestamp\", Signal, ServiceName, TraceId, SpanId, EventId, SessionId, "
        "RequestId, EventName, ErrorType) VALUES (make_timestamp_ns(?), 'log', 'svc', ?, '', ?, ?, ?, ?, ?)",
        [ts, trace_id, attributes.get(keys.EVENT_ID), attributes.get(keys.SESSION_ID),
         attributes.get(keys.REQUEST_ID), event_name or None, attributes.get(keys.ERROR_TYPE)],
    )


@pytest.fixture
def blank(tmp_path: Path) -> Any:
    con = connect(tmp_path / "edge.duckdb")
    yield con
    con.close()


def test_an_event_id_on_two_traces_is_ambiguous_and_names_both(blank: Any) -> None:
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    add_span(blank, first, "a" * 16, {keys.EVENT_ID: "ev-1"})
    add_span(blank, second, "b" * 16, {keys.EVENT_ID: "ev-1"}, offset_ns=5_000_000, message="boom")
    with pytest.raises(AmbiguousIdError) as caught:
        trace(blank, event_id="ev-1")
    assert first in str(caught.value)
    assert f"{second} (failed)" in str(caught.value)
    assert isinstance(caught.value, NotFoundError)


def test_a_trace_missing_from_the_bounds_index_is_still_found(blank: Any) -> None:
    trace_id = uuid.uuid4().hex
    add_span(blank, trace_id, "c" * 16, {keys.EVENT_ID: "ev-2", keys.SESSION_ID: "s-2"}, index_bounds=False)
    add_span(blank, trace_id, "d" * 16, {keys.EVENT_ID: "ev-2"}, parent="c" * 16, offset_ns=200_000,
             index_bounds=False)
    result = trace(blank, event_id="ev-2")
    assert result.trace_id == trace_id
    assert [(s.span_id, s.depth) for s in result.spans] == [("c" * 16, 0), ("d" * 16, 1)]
    assert result.spans[1].offset_ms == 0.2
    assert result.session_id == "s-2"
    assert not result.failed


def test_secrets_in_error_messages_and_attributes_are_scrubbed(blank: Any) -> None:
    trace_id = uuid.uuid4().hex
    secret = "hunter2-Very-Secret-9f8e7d"
    add_span(blank, trace_id, "e" * 16, {keys.EVENT_ID: "ev-3", "password": secret},
             message=f"connect to postgres://app:{secret}@db/shop failed")
    result = trace(blank, event_id="ev-3")
    assert result.error_class == "RuntimeError"
    assert result.error_message is not None
    assert "postgres://" in result.error_message
    assert secret not in json.dumps(result.to_dict())


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_html_page_is_self_contained_with_a_waterfall(con: Any, store: Any) -> None:
    result = trace(con, event_id=store.sample_failing_event_id)
    page = render_html(result)
    parser = _Collect()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert names.count("svg") == 1
    assert names.count("rect") == len(result.spans)
    assert names.count("circle") == len(result.logs) + len(result.browser_errors) + 1
    assert "script" not in names
    assert "link" not in names
    assert not [a for _, attrs in parser.tags for k, a in attrs.items() if k in ("src", "href")]
    assert result.trace_id in page
    assert store.sample_failing_event_id in page


def test_a_trace_whose_spans_were_lost_is_answered_from_its_log_lines(blank: Any) -> None:
    trace_id = uuid.uuid4().hex
    ids = {keys.EVENT_ID: "ev-4", keys.SESSION_ID: "s-4", keys.REQUEST_ID: "r-4"}
    add_log(blank, trace_id, "live event received", ids)
    add_log(blank, trace_id, "live event failed", {**ids, keys.ERROR_TYPE: "OSError"}, offset_ns=7_000_000,
            severity="ERROR")
    for result in (trace(blank, event_id="ev-4"), trace(blank, trace_id=trace_id)):
        assert result.spans == ()
        assert [line.body for line in result.logs] == ["live event received", "live event failed"]
        assert [line.offset_ms for line in result.logs] == [0.0, 7.0]
        assert (result.event_id, result.session_id, result.request_id) == ("ev-4", "s-4", "r-4")
        assert result.duration_ms == 7.0


def test_an_event_known_only_from_the_browser_is_answered_with_its_reports(blank: Any) -> None:
    ids = {keys.EVENT_ID: "ev-5", keys.SESSION_ID: "s-5", keys.ERROR_TYPE: "reply_timeout"}
    add_log(blank, "", "browser.action", {keys.EVENT_ID: "ev-5", keys.SESSION_ID: "s-5"},
            event_name=keys.BROWSER_ACTION_EVENT)
    add_log(blank, "", "Something went wrong", ids, offset_ns=2_000_000, event_name=keys.BROWSER_ERROR_EVENT,
            severity="ERROR")
    for event_id, error_class in (("ev-5", "reply_timeout"), (None, "Unrelated")):
        blank.execute(
            "INSERT INTO liveobs_errors (\"Timestamp\", Source, ErrorType, Fingerprint, TraceId, SpanId, EventId) "
            "VALUES (make_timestamp_ns(?), 'browser', ?, ?, '', '', ?)",
            [T0 + 2_000_000, error_class, f"fp-{error_class}", event_id],
        )
    result = trace(blank, event_id="ev-5")
    assert (result.trace_id, result.spans, result.logs) == ("", (), ())
    assert (result.error_class, result.error_fingerprint) == ("reply_timeout", "fp-reply_timeout")
    assert [e.error_class for e in result.errors] == ["reply_timeout"]
    assert result.browser_action is not None
    assert [b.body for b in result.browser_errors] == ["Something went wrong"]
    assert result.browser_errors[0].offset_ms == 2.0
    assert result.session_id == "s-5"
    page = render_html(result)
    assert page.count("<circle") == 2
    assert "<rect" not in page


def test_a_request_without_a_route_is_not_taken_for_the_page_render(blank: Any) -> None:
    page, report, event = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    add_span(blank, page, "1" * 16, {keys.SESSION_ID: "s-6", keys.REQUEST_ID: "r-page", keys.ROUTE_ID: "board"},
             offset_ns=-9_000_000)
    add_span(blank, report, "2" * 16, {keys.SESSION_ID: "s-6", keys.REQUEST_ID: "r-report"}, offset_ns=-3_000_000)
    add_span(blank, event, "3" * 16, {keys.SESSION_ID: "s-6", keys.EVENT_ID: "ev-6", keys.REQUEST_ID: "r-join"})
    result = trace(blank, event_id="ev-6")
    assert result.page_render is not None
    assert (result.page_render.trace_id, result.page_render.request_id) == (page, "r-page")
    assert result.page_render.offset_ms == -9.0
    assert [c.kind for c in trace(blank, session_id="s-6").candidates] == ["event", "request", "page"]


def test_a_page_render_before_the_context_window_is_the_newest_within_six_hours(blank: Any) -> None:
    """Beyond the ten minutes around the event: the newest routed request without event or connection
    (a request without a route, and a page render older than six hours, are not taken)."""
    minute = 60_000_000_000
    old_page, page, report, event = (uuid.uuid4().hex for _ in range(4))
    add_span(blank, old_page, "1" * 16, {keys.SESSION_ID: "s-7", keys.REQUEST_ID: "r-old", keys.ROUTE_ID: "board"},
             offset_ns=-7 * 60 * minute)
    add_span(blank, page, "2" * 16, {keys.SESSION_ID: "s-7", keys.REQUEST_ID: "r-page", keys.ROUTE_ID: "board"},
             offset_ns=-45 * minute)
    add_span(blank, report, "3" * 16, {keys.SESSION_ID: "s-7", keys.REQUEST_ID: "r-report"}, offset_ns=-20 * minute)
    add_span(blank, event, "4" * 16, {keys.SESSION_ID: "s-7", keys.EVENT_ID: "ev-7", keys.REQUEST_ID: "r-join"})
    result = trace(blank, event_id="ev-7")
    assert result.page_render is not None
    assert (result.page_render.trace_id, result.page_render.request_id) == (page, "r-page")
    assert result.page_render.offset_ms == -45 * 60_000.0
    assert [e.trace_id for e in result.session_events] == [event]
    blank.execute("DELETE FROM liveobs_correlation WHERE TraceId = ?", [page])
    assert trace(blank, event_id="ev-7").page_render is None
