"""liveobs's own tables on ClickHouse, and the materialized views that fill them from the exporter's.

The Collector writes ``otel_traces`` and ``otel_logs``; materialized views index each
insert as it arrives, so nothing but the Collector ingests:

* ``liveobs_correlation``: one row per span or log record carrying a liveobs id (the
  DuckDB store's index, same columns; absent ids are NULL as there). Ordered by
  ``EventId`` so ``liveobs trace --event-id`` reads one key range; bloom filters on the
  request, session and trace ids.
* ``liveobs_errors``: error occurrences (spans with Error status or an ``exception``
  event, logs with an error class, browser error reports), fingerprinted in SQL by
  the rule of ``liveobs.conventions.error_fingerprint``.
* ``liveobs_releases``: first and last span of each (service, environment, release), how
  many spans, and the requests it served (the DuckDB store's columns).
* ``liveobs_gate_runs`` / ``liveobs_gate_results``: gate runs as evidence (as in DuckDB).
* release records and kept samples, as the DuckDB migrations define them (``_chmirror``),
  and the ``liveobs_release_changes`` view.
* ``liveobs_backfill`` and ``liveobs_clickhouse_schema``: how far ``init`` has backfilled,
  and which schema version it created.

The views' expressions depend on the exporter layout found (``EventName`` exists only in
newer logs tables). Attribute keys are liveobs's own constants, written into the DDL as
quoted string literals: a view's definition cannot take bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from liveobs.conventions import evidence, keys
from liveobs.correlator.stores._clickhouse import quote_identifier
from liveobs.correlator.stores._layout import Layout

# 2: release counts in liveobs_releases; release records, kept samples and liveobs_release_changes.
SCHEMA_VERSION: Final = 2
UNKNOWN_ERROR_CLASS: Final = "_OTHER"  # as the DuckDB writer names an error without a class
Kind = Literal["table", "view", "alter"]


def literal(text: str) -> str:
    """A ClickHouse string literal (the one way a constant text enters this DDL)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True, slots=True)
class Statement:
    name: str
    kind: Kind
    sql: str


@dataclass(frozen=True, slots=True)
class Options:
    """How to create the tables: on a cluster, replicated, with a TTL in days (0: none)."""

    database: str = "otel"
    cluster: str | None = None
    replicated: bool = False
    ttl_days: int = 0


def _attr(column: str, key: str) -> str:
    """The attribute's value, NULL when the key is absent (as DuckDB's ``map[key]``)."""
    return f"if(mapContains({column}, {literal(key)}), {column}[{literal(key)}], NULL)"


def _route(column: str) -> str:
    return f"coalesce({_attr(column, keys.ROUTE_ID)}, {_attr(column, keys.HTTP_ROUTE)})"


_MASKS: Final = (
    (r"""'[^']*'|"[^"]*"|`[^`]*`""", "<str>"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (r"\b[0-9A-HJKMNP-TV-Z]{26}\b", "<ulid>"),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>"),
)
_HEX_WORD: Final = literal(r"\b[0-9a-fA-F]{8,}\b")
_BOUNDARY: Final = literal(r"\b")
_NUMBER: Final = literal(r"[-+]?\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_SPACES: Final = literal(r"\s+")
_SEPARATOR: Final = "char(31)"


def _template(text: str) -> str:
    """``message_template`` in ClickHouse SQL. RE2 has no look-ahead, so the long hex words (a digit and a
    letter among 8+ hex characters) are found first, then each is masked as a whole word."""
    masked = f"substringUTF8({text}, 1, 2048)"
    for pattern, mask in _MASKS:
        masked = f"replaceRegexpAll({masked}, {literal(pattern)}, {literal(mask)})"
    words = f"arrayFilter(w -> match(w, '[0-9]') AND match(w, '[a-fA-F]'), extractAll({masked}, {_HEX_WORD}))"
    masked = f"arrayFold((acc, w) -> replaceRegexpAll(acc, concat({_BOUNDARY}, w, {_BOUNDARY}), '<hex>'), {words}, {masked})"
    masked = f"replaceRegexpAll({masked}, {_NUMBER}, '<num>')"
    return f"substringUTF8(trimBoth(replaceRegexpAll({masked}, {_SPACES}, ' ')), 1, 512)"


def fingerprint_sql(service: str, error_class: str, message: str) -> str:
    """``error_fingerprint(service, class, message)``: the first 16 hex digits of SHA-256 of the three, US-separated."""
    template = _template(f"coalesce({message}, '')")
    joined = f"concat({service}, {_SEPARATOR}, {error_class}, {_SEPARATOR}, {template})"
    return f"lower(hex(substring(SHA256({joined}), 1, 8)))"


def _error_select(source_columns: str, where: str) -> str:
    """Wrap candidate rows (with cls0, fp0, msg) into ``liveobs_errors`` columns."""
    cls = f"if(coalesce(cls0, '') = '', {literal(UNKNOWN_ERROR_CLASS)}, cls0)"
    return f"""SELECT Timestamp, Source, ServiceName, ServiceVersion, Environment, ErrorType,
    if(coalesce(fp0, '') = '', {fingerprint_sql('ServiceName', 'ErrorType', 'Message')}, fp0) AS Fingerprint,
    Message, TraceId, SpanId, EventId, SessionId, RequestId, RouteId
FROM (SELECT *, {cls} AS ErrorType FROM (
    SELECT {source_columns}
    {where}))"""


def _span_errors(db: str) -> str:
    pos = f"indexOf(`Events.Name`, {literal(keys.EXCEPTION_EVENT)})"
    def event_attr(key: str) -> str:
        return (f"if(pos > 0 AND mapContains(`Events.Attributes`[pos], {literal(key)}), "
                f"`Events.Attributes`[pos][{literal(key)}], NULL)")
    columns = f"""Timestamp, 'span' AS Source, ServiceName,
        {_attr('ResourceAttributes', keys.SERVICE_VERSION)} AS ServiceVersion,
        {_attr('ResourceAttributes', keys.DEPLOYMENT_ENVIRONMENT)} AS Environment,
        coalesce({_attr('SpanAttributes', keys.ERROR_TYPE)}, {event_attr(keys.EXCEPTION_TYPE)}) AS cls0,
        {_attr('SpanAttributes', keys.ERROR_FINGERPRINT)} AS fp0,
        coalesce({event_attr(keys.EXCEPTION_MESSAGE)}, nullIf(StatusMessage, '')) AS Message,
        TraceId, SpanId, {_attr('SpanAttributes', keys.EVENT_ID)} AS EventId,
        {_attr('SpanAttributes', keys.SESSION_ID)} AS SessionId, {_attr('SpanAttributes', keys.REQUEST_ID)} AS RequestId,
        {_route('SpanAttributes')} AS RouteId"""
    where = f"""FROM (SELECT *, {pos} AS pos FROM {db}.otel_traces
        WHERE StatusCode = 'Error' OR has(`Events.Name`, {literal(keys.EXCEPTION_EVENT)}) {{batch}})"""
    return _error_select(columns, where)


def _log_event_name(layout: Layout) -> str:
    attribute = _attr("LogAttributes", keys.EVENT_NAME)
    return f"coalesce(nullIf(EventName, ''), {attribute})" if layout.logs_event_name else attribute


def _log_errors(db: str, layout: Layout) -> str:
    browser = f"coalesce({_log_event_name(layout)} = {literal(keys.BROWSER_ERROR_EVENT)}, false)"
    columns = f"""Timestamp, if(browser, 'browser', 'log') AS Source, ServiceName,
        {_attr('ResourceAttributes', keys.SERVICE_VERSION)} AS ServiceVersion,
        {_attr('ResourceAttributes', keys.DEPLOYMENT_ENVIRONMENT)} AS Environment,
        coalesce({_attr('LogAttributes', keys.ERROR_TYPE)}, {_attr('LogAttributes', keys.EXCEPTION_TYPE)},
                 if(browser, {_attr('LogAttributes', keys.BROWSER_ERROR_KIND)}, NULL)) AS cls0,
        {_attr('LogAttributes', keys.ERROR_FINGERPRINT)} AS fp0,
        coalesce({_attr('LogAttributes', keys.EXCEPTION_MESSAGE)}, nullIf(Body, '')) AS Message,
        TraceId, SpanId, {_attr('LogAttributes', keys.EVENT_ID)} AS EventId,
        {_attr('LogAttributes', keys.SESSION_ID)} AS SessionId, {_attr('LogAttributes', keys.REQUEST_ID)} AS RequestId,
        {_route('LogAttributes')} AS RouteId"""
    where = f"""FROM (SELECT *, {browser} AS browser FROM {db}.otel_logs
        WHERE (browser OR mapContains(LogAttributes, {literal(keys.ERROR_TYPE)})
               OR mapContains(LogAttributes, {literal(keys.EXCEPTION_TYPE)})) {{batch}})"""
    return _error_select(columns, where)


_ID_KEYS: Final = (keys.EVENT_ID, keys.SESSION_ID, keys.REQUEST_ID, keys.ROUTE_ID, keys.CONNECTION_ID)


def _correlation(db: str, table: str, signal: str, column: str, event_name: str) -> str:
    carries = " OR ".join(f"mapContains({column}, {literal(k)})" for k in _ID_KEYS)
    return f"""SELECT Timestamp, {literal(signal)} AS Signal, ServiceName,
    {_attr('ResourceAttributes', keys.SERVICE_VERSION)} AS ServiceVersion, TraceId, SpanId,
    {_attr(column, keys.EVENT_ID)} AS EventId, {_attr(column, keys.SESSION_ID)} AS SessionId,
    {_attr(column, keys.REQUEST_ID)} AS RequestId, {_route(column)} AS RouteId,
    {_attr(column, keys.CONNECTION_ID)} AS ConnectionId, {event_name} AS EventName,
    {_attr(column, keys.ERROR_TYPE)} AS ErrorType
FROM {db}.{table}
WHERE ({carries}) {{batch}}"""


def _releases(db: str) -> str:
    """Per release its first and last span and how many, and the requests it served: server spans that are
    neither the probe's nor driven or dry-run traffic (the rule of the DuckDB store's retention fold)."""
    version = f"ResourceAttributes[{literal(keys.SERVICE_VERSION)}]"
    served = (f"SpanKind = 'Server' AND ScopeName != {literal(evidence.PROBE_SCOPE)} "
              f"AND NOT mapContains(ResourceAttributes, {literal(keys.EVIDENCE_SOURCE)}) "
              f"AND NOT mapContains(SpanAttributes, {literal(keys.EVIDENCE_SOURCE)})")
    return f"""SELECT ServiceName, Environment, Release, min(Timestamp) AS FirstSeen, max(Timestamp) AS LastSeen,
    count() AS Spans, countIf(served) AS Requests, minIf(toNullable(Timestamp), served) AS FirstRequest,
    maxIf(toNullable(Timestamp), served) AS LastRequest
FROM (SELECT ServiceName, {_attr('ResourceAttributes', keys.DEPLOYMENT_ENVIRONMENT)} AS Environment,
    {version} AS Release, Timestamp, {served} AS served
    FROM {db}.otel_traces
    WHERE {version} != '' {{batch}})
GROUP BY ServiceName, Environment, Release"""


@dataclass(frozen=True, slots=True)
class Feed:
    """One materialized view: what it selects from which exporter table into which liveobs table.

    ``select`` has a ``{batch}`` slot: empty in the view, a time range in a backfill batch.
    """

    view: str
    source: str
    target: str
    select: str

    def view_sql(self) -> str:
        return self.select.replace("{batch}", "")

    def batch_sql(self) -> str:
        """The select for one backfill batch: rows with ``lo <= Timestamp < hi`` (``{lo:Int64}``, ``{hi:Int64}``
        in nanoseconds since the epoch)."""
        return self.select.replace(
            "{batch}",
            "AND Timestamp >= fromUnixTimestamp64Nano({lo:Int64}) AND Timestamp < fromUnixTimestamp64Nano({hi:Int64})",
        )


def feeds(layout: Layout) -> list[Feed]:
    """The views to create for this layout (only those whose exporter table exists)."""
    db = quote_identifier(layout.database)
    out = []
    if layout.has("otel_traces"):
        span_name = _attr("SpanAttributes", keys.EVENT_NAME)
        out += [
            Feed("liveobs_correlation_spans_mv", "otel_traces", "liveobs_correlation",
                 _correlation(db, "otel_traces", "span", "SpanAttributes", span_name)),
            Feed("liveobs_errors_spans_mv", "otel_traces", "liveobs_errors", _span_errors(db)),
            Feed("liveobs_releases_mv", "otel_traces", "liveobs_releases", _releases(db)),
        ]
    if layout.has("otel_logs"):
        out += [
            Feed("liveobs_correlation_logs_mv", "otel_logs", "liveobs_correlation",
                 _correlation(db, "otel_logs", "log", "LogAttributes", _log_event_name(layout))),
            Feed("liveobs_errors_logs_mv", "otel_logs", "liveobs_errors", _log_errors(db, layout)),
        ]
    return out
