"""Generate a liveobs store of realistic shape, fast, for benchmarks and tests.

Sessions open with a page render (an HTTP server span carrying the request id),
join a live socket (its own request id and a connection id), then send live
events: one trace each, a server span with the event id, child spans and log
lines, and a ``browser.action`` report. A few percent of the events fail: an
``exception`` span event, an error log line, a ``browser.error`` report and the
matching ``liveobs_errors`` rows. Exporter tables, the correlation index,
``otel_traces_trace_id_ts`` and the error occurrences are written consistently,
in time order, as ingest would. Browser reports carry the page's request id, as
the SDK's report endpoint writes them.

Per-event facts are drawn with numpy and handed to DuckDB as Arrow tables; the
rows are expanded with ``INSERT … SELECT`` in the engine, so 10M rows take
about a minute. Deterministic for a given seed.

    python benchmarks/gen_store.py var/bench/store-1m.duckdb --rows 1000000
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa

from liveobs.conventions import error_fingerprint, keys
from liveobs.correlator._db import connect

# Bumped whenever the generated shape changes, so cached benchmark stores are rebuilt.
GENERATOR_VERSION: Final = 3
SERVICE: Final = "shop"
ENVIRONMENT: Final = "production"
RELEASES: Final = ("1.4.0", "1.5.0")
# Base time of generated data: 2026-01-05T08:00:00Z, in ns.
BASE_NS: Final = 1_767_600_000_000_000_000
ROUTES: Final = ("items.show", "cart.view", "checkout.start", "account.settings")
ROUTE_TEMPLATES: Final = ("/items/{item_id}", "/cart", "/checkout", "/account")
EVENT_NAMES: Final = ("add_to_cart", "remove_item", "update_quantity", "apply_coupon", "search", "save")
# (error class, message, relative weight); the second is much more frequent in the second release.
ERRORS: Final = (
    ("KeyError", "cart item 'sku-1042' is missing", 3),
    ("TimeoutError", "database query timed out after 5000 ms", 2),
    ("ValueError", "invalid quantity -3 for item 77", 2),
    ("PermissionError", "coupon WELCOME10 not allowed for account 991", 1),
)
ROWS_PER_SESSION_ESTIMATE: Final = 110
_CHUNK_EVENTS: Final = 150_000


@dataclass(frozen=True, slots=True)
class StoreSummary:
    """What was generated, and ids a benchmark or test can look up."""

    path: str
    seed: int
    sessions: int
    events: int
    failed_events: int
    spans: int
    logs: int
    seconds: float
    sample_event_id: str
    sample_failing_event_id: str
    sample_failing_trace_id: str
    sample_failing_request_id: str
    sample_failing_session_id: str

    @property
    def rows(self) -> int:
        return self.spans + self.logs

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows": self.rows}


def _sessions_table(rng: np.random.Generator, sessions: int, window_ns: int) -> pa.Table:
    start = np.sort(rng.integers(0, window_ns, sessions)) + BASE_NS
    return pa.table(
        {
            "s": np.arange(sessions, dtype=np.int64),
            "start_ns": start.astype(np.int64),
            "route": rng.integers(0, len(ROUTES), sessions).astype(np.int32),
            "release": (start - BASE_NS > window_ns // 2).astype(np.int32),
        }
    )


def _events_table(
    rng: np.random.Generator, sessions: pa.Table, per_session: np.ndarray, error_rate: float
) -> pa.Table:
    """One row per live event: its session, time, name, duration and failure."""
    owner = np.repeat(sessions["s"].to_numpy(), per_session)
    start = np.repeat(sessions["start_ns"].to_numpy(), per_session)
    # Events follow the page render and the socket join, seconds apart.
    gaps = rng.exponential(8e9, owner.size).astype(np.int64) + 400_000_000
    heads = np.cumsum(per_session) - per_session
    cum = np.cumsum(gaps)
    offset = cum - np.repeat(cum[heads] - gaps[heads], per_session)
    ts = start + 300_000_000 + offset
    release = np.repeat(sessions["release"].to_numpy(), per_session)
    failed = rng.random(owner.size) < np.where(release == 1, error_rate * 1.6, error_rate * 0.4)
    weights = np.array([w for _, _, w in ERRORS], dtype=np.float64)
    error = rng.choice(len(ERRORS), owner.size, p=weights / weights.sum())
    # The timeout is mostly the new release's regression.
    error = np.where((error == 1) & (release == 0) & (rng.random(owner.size) < 0.8), 0, error)
    duration = (rng.lognormal(16.5, 0.6, owner.size)).astype(np.int64)  # ~15 ms median
    duration = np.where(failed & (error == 1), 5_000_000_000, duration)
    order = np.argsort(ts, kind="stable")
    return pa.table(
        {
            "e": np.arange(owner.size, dtype=np.int64),
            "s": owner[order],
            "ts_ns": ts[order].astype(np.int64),
            "name": rng.integers(0, len(EVENT_NAMES), owner.size).astype(np.int32),
            "dur_ns": duration[order],
            "failed": failed[order],
            "error": error[order].astype(np.int32),
            "latency_ns": (duration[order] + rng.integers(3_000_000, 40_000_000, owner.size)).astype(np.int64),
        }
    )


def _lookups(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE g_route (route INTEGER, route_id VARCHAR, template VARCHAR)")
    con.executemany("INSERT INTO g_route VALUES (?, ?, ?)", [(i, r, t) for i, (r, t) in enumerate(zip(ROUTES, ROUTE_TEMPLATES, strict=True))])
    con.execute("CREATE OR REPLACE TEMP TABLE g_release (release INTEGER, version VARCHAR)")
    con.executemany("INSERT INTO g_release VALUES (?, ?)", list(enumerate(RELEASES)))
    con.execute("CREATE OR REPLACE TEMP TABLE g_name (name INTEGER, event_name VARCHAR)")
    con.executemany("INSERT INTO g_name VALUES (?, ?)", list(enumerate(EVENT_NAMES)))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE g_error (error INTEGER, error_type VARCHAR, message VARCHAR, fingerprint VARCHAR)"
    )
    con.executemany(
        "INSERT INTO g_error VALUES (?, ?, ?, ?)",
        [(i, t, m, error_fingerprint(SERVICE, t, m)) for i, (t, m, _) in enumerate(ERRORS)],
    )


# Ids derived from the seed and an index, in the formats the SDK mints:
# UUIDv7 text for event ids, UUIDv7 hex for request and connection ids,
# 32/16 hex for trace and span ids, a 32-hex keyed hash for the session id.
def _uuid7_text(ts: str, seed: int, tag: str, idx: str) -> str:
    h = f"printf('%012x', (({ts}) // 1000000)::BIGINT)"
    r = f"md5('{seed}{tag}' || {idx})"
    return f"(substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-7' || substr({r}, 1, 3) || '-8' || substr({r}, 4, 3) || '-' || substr({r}, 7, 12))"


def _uuid7_hex(ts: str, seed: int, tag: str, idx: str) -> str:
    return f"(printf('%012x', (({ts}) // 1000000)::BIGINT) || '7' || substr(md5('{seed}{tag}' || {idx}), 1, 19))"


def _session_view(con: duckdb.DuckDBPyConnection, seed: int) -> None:
    """Per session: its ids and the times of the page render and the socket join."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_session AS
        SELECT s.s, s.start_ns, s.release, r.route_id, r.template, v.version,
               md5('{seed}session' || s.s) AS session_id,
               md5('{seed}trace-page' || s.s) AS page_trace,
               md5('{seed}trace-join' || s.s) AS join_trace,
               {_uuid7_hex('s.start_ns', seed, 'req-page', 's.s')} AS page_request,
               {_uuid7_hex('s.start_ns + 250000000', seed, 'req-join', 's.s')} AS join_request,
               {_uuid7_hex('s.start_ns + 250000000', seed, 'conn', 's.s')} AS connection_id
        FROM g_sessions s JOIN g_route r USING (route) JOIN g_release v USING (release)
        """
    )


# Span templates of one live event: (j, parent j, name, kind, start fraction, duration fraction).
_EVENT_SPANS: Final = (
    (0, -1, "live.event", "Server", 0.0, 1.0),
    (1, 0, "handle_event", "Internal", 0.02, 0.8),
    (2, 1, "db.query", "Client", 0.06, 0.45),
    (3, 0, "render.diff", "Internal", 0.85, 0.12),
)


def _insert_chunk(con: duckdb.DuckDBPyConnection, seed: int, lo: int, hi: int) -> None:
    """Expand events ``lo``..``hi`` into spans, logs, correlation and error rows."""
    k = keys
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_ev AS
        SELECT e.*, g.session_id, g.join_request AS request_id, g.page_request, g.connection_id, g.route_id, g.template,
               g.version, n.event_name, x.error_type, x.message, x.fingerprint,
               md5('{seed}trace-ev' || e.e) AS trace_id,
               {_uuid7_text('e.ts_ns', seed, 'event', 'e.e')} AS event_id
        FROM g_events e JOIN g_session g USING (s) JOIN g_name n USING (name) JOIN g_error x USING (error)
        WHERE e.e >= {lo} AND e.e < {hi}
        """
    )
    spans = " UNION ALL ".join(
        f"SELECT {j} AS j, {p} AS p, '{name}' AS span_name, '{kind}' AS kind, {a} AS a, {d} AS d"
        for j, p, name, kind, a, d in _EVENT_SPANS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_span AS
        SELECT ev.*, t.j, t.span_name, t.kind,
               ev.ts_ns + (t.a * ev.dur_ns)::BIGINT AS start_ns,
               (t.d * ev.dur_ns)::BIGINT AS span_dur,
               substr(md5('{seed}span' || ev.e || '-' || t.j), 1, 16) AS span_id,
               CASE WHEN t.p < 0 THEN '' ELSE substr(md5('{seed}span' || ev.e || '-' || t.p), 1, 16) END AS parent_id
        FROM g_ev ev, ({spans}) t
        ORDER BY start_ns, ev.e, t.j
        """
    )
    con.execute(
        """
        INSERT INTO otel_traces
        SELECT make_timestamp_ns(start_ns), trace_id, span_id, parent_id, '',
               CASE WHEN j = 0 THEN 'live.event ' || event_name ELSE span_name END, kind, ?,
               MAP([?, ?, ?], [?, version, ?]), 'liveobs.sdk', '0.1.0',
               CASE WHEN j = 0 AND failed
                    THEN MAP([?, ?, ?, ?, ?, ?, ?, ?, ?], [session_id, event_id, request_id, route_id, connection_id, event_name, template, error_type, fingerprint])
                    WHEN j = 0
                    THEN MAP([?, ?, ?, ?, ?, ?, ?], [session_id, event_id, request_id, route_id, connection_id, event_name, template])
                    ELSE MAP([?, ?, ?, ?, ?], [session_id, event_id, request_id, route_id, connection_id]) END,
               span_dur::UBIGINT,
               CASE WHEN failed AND j IN (0, 1) THEN 'Error' ELSE 'Unset' END,
               CASE WHEN failed AND j IN (0, 1) THEN error_type ELSE '' END,
               CASE WHEN failed AND j = 1
                    THEN {'Timestamp': [make_timestamp_ns(start_ns + span_dur - 100000)], 'Name': [?],
                          'Attributes': [MAP([?, ?, ?], [error_type, message, 'Traceback (most recent call last):\n  File "shop/cart.py", line 88, in handle_event\n' || error_type || ': ' || message])]}
                    ELSE {'Timestamp': []::TIMESTAMP_NS[], 'Name': []::VARCHAR[], 'Attributes': []::MAP(VARCHAR, VARCHAR)[]} END,
               {'TraceId': []::VARCHAR[], 'SpanId': []::VARCHAR[], 'TraceState': []::VARCHAR[], 'Attributes': []::MAP(VARCHAR, VARCHAR)[]}
        FROM g_span ORDER BY start_ns
        """,
        [
            SERVICE,
            k.SERVICE_NAME, k.SERVICE_VERSION, k.DEPLOYMENT_ENVIRONMENT, SERVICE, ENVIRONMENT,
            k.SESSION_ID, k.EVENT_ID, k.REQUEST_ID, k.ROUTE_ID, k.CONNECTION_ID, k.EVENT_NAME, k.HTTP_ROUTE,
            k.ERROR_TYPE, k.ERROR_FINGERPRINT,
            k.SESSION_ID, k.EVENT_ID, k.REQUEST_ID, k.ROUTE_ID, k.CONNECTION_ID, k.EVENT_NAME, k.HTTP_ROUTE,
            k.SESSION_ID, k.EVENT_ID, k.REQUEST_ID, k.ROUTE_ID, k.CONNECTION_ID,
            k.EXCEPTION_EVENT, k.EXCEPTION_TYPE, k.EXCEPTION_MESSAGE, k.EXCEPTION_STACKTRACE,
        ],
    )
    # Log lines: "event received" on the server span, "query done" on the db span,
    # "event failed" on failure; the browser's reports have no trace of their own.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE g_log AS
        SELECT ev.*, l.kind AS log_kind,
               CASE l.kind WHEN 'received' THEN ev.ts_ns + 50000
                           WHEN 'query' THEN ev.ts_ns + (0.5 * ev.dur_ns)::BIGINT
                           WHEN 'failed' THEN ev.ts_ns + ev.dur_ns - 50000
                           WHEN 'action' THEN ev.ts_ns + ev.latency_ns
                           ELSE ev.ts_ns + ev.latency_ns + 1000000 END AS log_ns,
               CASE l.kind WHEN 'received' THEN substr(md5('{seed}span' || ev.e || '-0'), 1, 16)
                           WHEN 'query' THEN substr(md5('{seed}span' || ev.e || '-2'), 1, 16)
                           WHEN 'failed' THEN substr(md5('{seed}span' || ev.e || '-1'), 1, 16)
                           ELSE '' END AS span_id
        FROM g_ev ev, (VALUES ('received'), ('query'), ('failed'), ('action'), ('berror')) l(kind)
        WHERE l.kind IN ('received', 'query', 'action') OR ev.failed
        ORDER BY log_ns, ev.e
        """
    )
    con.execute(
        """
        INSERT INTO otel_logs
        SELECT make_timestamp_ns(log_ns),
               CASE WHEN log_kind IN ('action', 'berror') THEN '' ELSE trace_id END, span_id,
               CASE WHEN log_kind IN ('action', 'berror') THEN 0 ELSE 1 END,
               CASE log_kind WHEN 'query' THEN 'DEBUG' WHEN 'failed' THEN 'ERROR' WHEN 'berror' THEN 'ERROR' ELSE 'INFO' END,
               CASE log_kind WHEN 'query' THEN 5 WHEN 'failed' THEN 17 WHEN 'berror' THEN 17 ELSE 9 END,
               ?,
               CASE log_kind WHEN 'received' THEN 'live event received'
                             WHEN 'query' THEN 'cart query done'
                             WHEN 'failed' THEN 'live event failed: ' || message
                             WHEN 'action' THEN 'browser action'
                             ELSE 'browser error: ' || error_type END,
               '', MAP([?, ?, ?], [?, version, ?]), '', 'liveobs.sdk', '0.1.0', MAP([]::VARCHAR[], []::VARCHAR[]),
               CASE WHEN log_kind IN ('failed', 'berror')
                    THEN MAP([?, ?, ?, ?, ?, ?, ?], [session_id, event_id, CASE WHEN log_kind = 'berror' THEN page_request ELSE request_id END, route_id, connection_id, error_type, fingerprint])
                    WHEN log_kind = 'action'
                    THEN MAP([?, ?, ?, ?, ?, ?, ?], [session_id, event_id, page_request, route_id, connection_id, event_name, (latency_ns // 1000000)::VARCHAR])
                    ELSE MAP([?, ?, ?, ?, ?], [session_id, event_id, request_id, route_id, connection_id]) END,
               CASE log_kind WHEN 'action' THEN ? WHEN 'berror' THEN ? ELSE '' END
        FROM g_log ORDER BY log_ns
        """,
        [
            SERVICE,
            k.SERVICE_NAME, k.SERVICE_VERSION, k.DEPLOYMENT_ENVIRONMENT, SERVICE, ENVIRONMENT,
            k.SESSION_ID, k.EVENT_ID, k.REQUEST_ID, k.ROUTE_ID, k.CONNECTION_ID, k.ERROR_TYPE, k.ERROR_FINGERPRINT,
            k.SESSION_ID, k.EVENT_ID, k.REQUEST_ID, k.ROUTE_ID, k.CONNECTION_ID, k.EVENT_NAME, k.BROWSER_LATENCY_MS,
            k.SESSION_ID, k.EVENT_ID, k.REQUEST_ID, k.ROUTE_ID, k.CONNECTION_ID,
            k.BROWSER_ACTION_EVENT, k.BROWSER_ERROR_EVENT,
        ],
    )
    con.execute(
        """
        INSERT INTO liveobs_correlation
        SELECT make_timestamp_ns(ts), signal, ?, version, trace_id, span_id, event_id, session_id,
               request_id, route_id, connection_id, event_name, error_type
        FROM (
            SELECT start_ns AS ts, 'span' AS signal, version, trace_id, span_id, event_id, session_id,
                   request_id, route_id, connection_id,
                   CASE WHEN j = 0 THEN event_name END AS event_name,
                   CASE WHEN failed AND j = 0 THEN error_type END AS error_type  -- error.type is on the event span
            FROM g_span
            UNION ALL
            SELECT log_ns, 'log', version, CASE WHEN log_kind IN ('action', 'berror') THEN '' ELSE trace_id END,
                   span_id, event_id, session_id, CASE WHEN log_kind IN ('action', 'berror') THEN page_request ELSE request_id END,
                   route_id, connection_id,
                   CASE log_kind WHEN 'action' THEN ? WHEN 'berror' THEN ? END,
                   CASE WHEN log_kind IN ('failed', 'berror') THEN error_type END
            FROM g_log
        ) ORDER BY ts
        """,
        [SERVICE, k.BROWSER_ACTION_EVENT, k.BROWSER_ERROR_EVENT],
    )
    con.execute(
        """
        INSERT INTO liveobs_errors
        SELECT make_timestamp_ns(ts), source, ?, version, ?, error_type, fingerprint, message,
               trace_id, span_id, event_id, session_id, request_id, route_id
        FROM (
            -- As ingest derives them (see _derive): the event span (Error status, error.type, the class as
            -- its status message) and the handler span (its exception event), at their start times; log and
            -- browser occurrences carry the record's body.
            SELECT start_ns AS ts, 'span' AS source, version, error_type, fingerprint,
                   CASE WHEN j = 0 THEN error_type ELSE message END AS message,
                   trace_id, span_id, event_id, session_id, request_id, route_id
            FROM g_span WHERE failed AND j IN (0, 1)
            UNION ALL
            SELECT log_ns, CASE log_kind WHEN 'failed' THEN 'log' ELSE 'browser' END, version, error_type,
                   fingerprint, CASE log_kind WHEN 'failed' THEN 'live event failed: ' || message
                                              ELSE 'browser error: ' || error_type END,
                   CASE log_kind WHEN 'failed' THEN trace_id ELSE '' END, span_id, event_id, session_id,
                   CASE log_kind WHEN 'failed' THEN request_id ELSE page_request END, route_id
            FROM g_log WHERE log_kind IN ('failed', 'berror')
        ) ORDER BY ts
        """,
        [SERVICE, ENVIRONMENT],
    )
    con.execute(
        """
        INSERT INTO otel_traces_trace_id_ts
        SELECT trace_id, make_timestamp_ns(min(start_ns)), make_timestamp_ns(max(start_ns + span_dur))
        FROM g_span GROUP BY trace_id ORDER BY min(start_ns)
        """
    )


def _insert_sessions(con: duckdb.DuckDBPyConnection) -> None:
    """Page render (server span + render span + log) and socket join (server span + log)."""
    k = keys
    con.execute(
        """
        INSERT INTO otel_traces
        SELECT make_timestamp_ns(ts), trace_id, span_id, parent_id, '', span_name, kind, ?,
               MAP([?, ?, ?], [?, version, ?]), 'liveobs.sdk', '0.1.0',
               CASE WHEN parent_id = '' AND connection_id IS NOT NULL
                    THEN MAP([?, ?, ?, ?, ?, ?, ?], [session_id, request_id, route_id, template, method, status, connection_id])
                    WHEN parent_id = ''
                    THEN MAP([?, ?, ?, ?, ?, ?], [session_id, request_id, route_id, template, method, status])
                    ELSE MAP([?, ?, ?], [session_id, request_id, route_id]) END,
               dur::UBIGINT, 'Unset', '',
               {'Timestamp': []::TIMESTAMP_NS[], 'Name': []::VARCHAR[], 'Attributes': []::MAP(VARCHAR, VARCHAR)[]},
               {'TraceId': []::VARCHAR[], 'SpanId': []::VARCHAR[], 'TraceState': []::VARCHAR[], 'Attributes': []::MAP(VARCHAR, VARCHAR)[]}
        FROM (
            SELECT start_ns AS ts, page_trace AS trace_id, substr(page_trace, 1, 16) AS span_id, '' AS parent_id,
                   'GET ' || template AS span_name, 'Server' AS kind, 42000000 AS dur, page_request AS request_id,
                   NULL AS connection_id, 'GET' AS method, '200' AS status, *
            FROM g_session
            UNION ALL
            SELECT start_ns + 3000000, page_trace, substr(page_trace, 17, 16), substr(page_trace, 1, 16),
                   'render.page', 'Internal', 30000000, page_request, NULL, 'GET', '200', *
            FROM g_session
            UNION ALL
            SELECT start_ns + 250000000, join_trace, substr(join_trace, 1, 16), '', 'live.connect', 'Server',
                   6000000, join_request, connection_id, 'GET', '101', *
            FROM g_session
        ) ORDER BY ts
        """,
        [
            SERVICE, k.SERVICE_NAME, k.SERVICE_VERSION, k.DEPLOYMENT_ENVIRONMENT, SERVICE, ENVIRONMENT,
            k.SESSION_ID, k.REQUEST_ID, k.ROUTE_ID, k.HTTP_ROUTE, k.HTTP_REQUEST_METHOD, k.HTTP_RESPONSE_STATUS_CODE,
            k.CONNECTION_ID,
            k.SESSION_ID, k.REQUEST_ID, k.ROUTE_ID, k.HTTP_ROUTE, k.HTTP_REQUEST_METHOD, k.HTTP_RESPONSE_STATUS_CODE,
            k.SESSION_ID, k.REQUEST_ID, k.ROUTE_ID,
        ],
    )
    con.execute(
        """
        INSERT INTO otel_logs
        SELECT make_timestamp_ns(ts), trace_id, span_id, 1, 'INFO', 9, ?, body, '',
               MAP([?, ?, ?], [?, version, ?]), '', 'liveobs.sdk', '0.1.0', MAP([]::VARCHAR[], []::VARCHAR[]),
               CASE WHEN connection_id IS NOT NULL
                    THEN MAP([?, ?, ?, ?], [session_id, request_id, route_id, connection_id])
                    ELSE MAP([?, ?, ?], [session_id, request_id, route_id]) END, ''
        FROM (
            SELECT start_ns + 40000000 AS ts, page_trace AS trace_id, substr(page_trace, 17, 16) AS span_id,
                   'page rendered' AS body, page_request AS request_id, NULL AS connection_id, *
            FROM g_session
            UNION ALL
            SELECT start_ns + 255000000, join_trace, substr(join_trace, 1, 16), 'live socket joined',
                   join_request, connection_id, *
            FROM g_session
        ) ORDER BY ts
        """,
        [
            SERVICE, k.SERVICE_NAME, k.SERVICE_VERSION, k.DEPLOYMENT_ENVIRONMENT, SERVICE, ENVIRONMENT,
            k.SESSION_ID, k.REQUEST_ID, k.ROUTE_ID, k.CONNECTION_ID, k.SESSION_ID, k.REQUEST_ID, k.ROUTE_ID,
        ],
    )
    con.execute(
        """
        INSERT INTO liveobs_correlation
        SELECT make_timestamp_ns(ts), signal, ?, version, trace_id, span_id, NULL, session_id, request_id,
               route_id, connection_id, NULL, NULL
        FROM (
            SELECT start_ns AS ts, 'span' AS signal, page_trace AS trace_id, substr(page_trace, 1, 16) AS span_id,
                   page_request AS request_id, NULL AS connection_id, * FROM g_session
            UNION ALL SELECT start_ns + 3000000, 'span', page_trace, substr(page_trace, 17, 16), page_request, NULL, * FROM g_session
            UNION ALL SELECT start_ns + 40000000, 'log', page_trace, substr(page_trace, 17, 16), page_request, NULL, * FROM g_session
            UNION ALL SELECT start_ns + 250000000, 'span', join_trace, substr(join_trace, 1, 16), join_request, connection_id, * FROM g_session
            UNION ALL SELECT start_ns + 255000000, 'log', join_trace, substr(join_trace, 1, 16), join_request, connection_id, * FROM g_session
        ) ORDER BY ts
        """,
        [SERVICE],
    )
    con.execute(
        """
        INSERT INTO otel_traces_trace_id_ts
        SELECT page_trace, make_timestamp_ns(start_ns), make_timestamp_ns(start_ns + 42000000) FROM g_session
        UNION ALL
        SELECT join_trace, make_timestamp_ns(start_ns + 250000000), make_timestamp_ns(start_ns + 256000000) FROM g_session
        """
    )


def generate(
    path: str | Path,
    rows: int = 1_000_000,
    seed: int = 7,
    *,
    error_rate: float = 0.03,
    window_hours: float = 24.0,
) -> StoreSummary:
    """Write a store of about ``rows`` spans plus log records to ``path`` (which must not exist)."""
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; generate into a new path")
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    sessions = max(1, rows // ROWS_PER_SESSION_ESTIMATE)
    window_ns = int(window_hours * 3600e9)
    session_table = _sessions_table(rng, sessions, window_ns)
    per_session = np.clip(rng.geometric(1 / 15, sessions), 1, 200)
    event_table = _events_table(rng, session_table, per_session, error_rate)
    con = connect(target)
    try:
        con.register("g_sessions", session_table)
        con.register("g_events", event_table)
        _lookups(con)
        _session_view(con, seed)
        con.execute("BEGIN TRANSACTION")
        _insert_sessions(con)
        total = event_table.num_rows
        for lo in range(0, total, _CHUNK_EVENTS):
            _insert_chunk(con, seed, lo, min(total, lo + _CHUNK_EVENTS))
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        summary = _summary(con, target, seed, sessions, total, began)
    finally:
        con.close()
    return summary


def _summary(
    con: duckdb.DuckDBPyConnection, target: Path, seed: int, sessions: int, events: int, began: float
) -> StoreSummary:
    spans = con.execute("SELECT count(*) FROM otel_traces").fetchone()
    logs = con.execute("SELECT count(*) FROM otel_logs").fetchone()
    failed = con.execute("SELECT count(DISTINCT EventId) FROM liveobs_errors WHERE Source = 'span'").fetchone()
    sample = con.execute(
        "SELECT EventId FROM liveobs_correlation WHERE Signal = 'span' AND EventName IS NOT NULL LIMIT 1"
    ).fetchone()
    failing = con.execute(
        "SELECT EventId, TraceId, RequestId, SessionId FROM liveobs_errors WHERE Source = 'span' "
        "ORDER BY Timestamp DESC LIMIT 1"
    ).fetchone()
    assert spans is not None
    assert logs is not None
    assert failed is not None
    assert sample is not None
    fail = failing or ("", "", "", "")
    return StoreSummary(
        path=str(target),
        seed=seed,
        sessions=sessions,
        events=events,
        failed_events=int(failed[0]),
        spans=int(spans[0]),
        logs=int(logs[0]),
        seconds=round(time.perf_counter() - began, 2),
        sample_event_id=str(sample[0]),
        sample_failing_event_id=str(fail[0]),
        sample_failing_trace_id=str(fail[1]),
        sample_failing_request_id=str(fail[2]),
        sample_failing_session_id=str(fail[3]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the new store file")
    parser.add_argument("--rows", type=int, default=1_000_000, help="about this many spans plus log records")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--error-rate", type=float, default=0.03)
    args = parser.parse_args(argv)
    try:
        summary = generate(args.path, args.rows, args.seed, error_rate=args.error_rate)
    except FileExistsError as exc:
        print(f"gen_store: {exc}", file=sys.stderr)
        return 2
    import json

    print(json.dumps(summary.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
