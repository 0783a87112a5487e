"""What outlives retention: release facts, baseline samples and incident stacks.

Before retention deletes the spans, log records or metric points older than a
cutoff, it folds them, in the same transaction, into small tables it keeps:

* ``liveobs_releases``: per service, environment and release, when its first and
  last span came and how many; how many requests it served (server spans, not
  probe or driven traffic) and when. The gates' release lookup reads the first and
  last beside the spans' (a minimum and maximum, so a table that also covers the
  spans still stored, as ClickHouse's view-filled one does, gives the same answer),
  so a release and its baseline are still found once their spans are gone.
* ``liveobs_kept_spans`` and ``liveobs_kept_actions``: the baseline samples of the
  regression checks. Those checks sample a release by the smallest ``hash`` of a
  key (span id, event id), at most ``max_samples`` of them; keeping, per release,
  the :data:`KEPT_SAMPLES` deleted rows with the smallest hashes keeps every row
  such a sample can pick, so the checks judge a baseline whose raw rows are gone
  exactly as before (``baseline.sql`` reads the kept rows beside the raw ones).
* ``liveobs_kept_histograms`` and ``liveobs_kept_process``: the connect and patch-size
  histograms merged as the regression checks merge them (a cumulative series' latest
  point, delta points added up), and memory points sampled like spans.
* ``liveobs_kept_stacks``: the stack trace of the newest failing span of each
  incident (fingerprint, release, service and environment) among the deleted spans,
  so an incident still shows its stack.

The samples and stacks go once their evidence is older than the kept horizon
(:data:`KEPT_FOR_S`, 90 days by default: a baseline is a recent release); the
release facts, error occurrences (``liveobs_errors``: the incidents with their
sample event ids) and gate runs are not trimmed at all.
"""

from __future__ import annotations

import re
from typing import Any, Final

import duckdb

from liveobs.conventions import evidence, keys

# Kept baseline samples per release, environment and kind: at least any budget's max_samples (5000 by default).
KEPT_SAMPLES: Final = 10_000
# How long kept samples and stacks outlive their evidence's time.
KEPT_FOR_S: Final = 90 * 86400.0
_PARAM: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

# The spans before $cutoff, per service, environment and release.
_FOLD_FACTS: Final = """
INSERT INTO liveobs_releases
SELECT ServiceName, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT], ResourceAttributes[$SERVICE_VERSION],
       min("Timestamp"), max("Timestamp"), count(*),
       count(*) FILTER (WHERE served), min("Timestamp") FILTER (WHERE served), max("Timestamp") FILTER (WHERE served)
FROM (
    SELECT ServiceName, ResourceAttributes, "Timestamp",
           SpanKind = 'Server' AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
               AND ResourceAttributes[$EVIDENCE_SOURCE] IS NULL AND SpanAttributes[$EVIDENCE_SOURCE] IS NULL AS served
    FROM otel_traces
    WHERE "Timestamp" < $cutoff AND nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL
)
GROUP BY ServiceName, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT], ResourceAttributes[$SERVICE_VERSION]
"""

# The live event and page spans before $cutoff, in the shape of baseline.sql's lo_baseline_spans,
# the KEPT_SAMPLES with the smallest hash(SpanId) of each kind per release.
_FOLD_SPANS: Final = """
INSERT INTO liveobs_kept_spans
SELECT ServiceName, Environment, Release, "Timestamp", SpanId, Duration, LiveEventName, HttpMethod, Html
FROM (
    SELECT *,
           row_number() OVER (PARTITION BY ServiceName, Environment, Release, LiveEventName IS NOT NULL
                              ORDER BY hash(SpanId)) AS nth
    FROM (
        SELECT ServiceName, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] AS Environment,
               ResourceAttributes[$SERVICE_VERSION] AS Release, "Timestamp", SpanId, Duration,
               SpanAttributes[$EVENT_NAME] AS LiveEventName, SpanAttributes[$HTTP_REQUEST_METHOD] AS HttpMethod,
               coalesce(len(list_filter(Events.Attributes, lambda a: a[$SECURITY_CHECK] = $CHECK_CSP)) > 0, false)
                   AS Html
        FROM otel_traces
        WHERE "Timestamp" < $cutoff AND nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL
          AND (SpanAttributes[$EVENT_NAME] IS NOT NULL OR SpanAttributes[$HTTP_REQUEST_METHOD] = 'GET')
    )
    WHERE LiveEventName IS NOT NULL OR Html
)
WHERE nth <= $kept
"""

# Of the kept spans, again only the KEPT_SAMPLES smallest hashes of each kind per release.
_PRUNE_SPANS: Final = """
DELETE FROM liveobs_kept_spans WHERE rowid IN (
    SELECT id FROM (
        SELECT rowid AS id, row_number() OVER (PARTITION BY ServiceName, Environment, Release, LiveEventName IS NOT NULL
                                          ORDER BY hash(SpanId)) AS nth
        FROM liveobs_kept_spans
    )
    WHERE nth > $kept
)
"""

# The browser actions with a latency before $cutoff, as baseline.sql's lo_baseline_logs, by hash(EventId).
_FOLD_ACTIONS: Final = """
INSERT INTO liveobs_kept_actions
SELECT ServiceName, Environment, Release, "Timestamp", EventId, EventName, BrowserLatencyMs
FROM (
    SELECT *, row_number() OVER (PARTITION BY ServiceName, Environment, Release ORDER BY hash(EventId)) AS nth
    FROM (
        SELECT ServiceName, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] AS Environment,
               ResourceAttributes[$SERVICE_VERSION] AS Release, "Timestamp", LogAttributes[$EVENT_ID] AS EventId,
               EventName, TRY_CAST(LogAttributes[$BROWSER_LATENCY_MS] AS DOUBLE) AS BrowserLatencyMs
        FROM otel_logs
        WHERE "Timestamp" < $cutoff AND nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL
          AND EventName = $BROWSER_ACTION_EVENT
    )
    WHERE BrowserLatencyMs IS NOT NULL
)
WHERE nth <= $kept
"""

_PRUNE_ACTIONS: Final = """
DELETE FROM liveobs_kept_actions WHERE rowid IN (
    SELECT id FROM (
        SELECT rowid AS id, row_number() OVER (PARTITION BY ServiceName, Environment, Release ORDER BY hash(EventId)) AS nth
        FROM liveobs_kept_actions
    )
    WHERE nth > $kept
)
"""

# The connect and patch-size histogram points before $cutoff, as baseline.sql merges them: of a cumulative
# series (same attributes and start) only its latest point, which holds the rest; delta points added up
# bucket by bucket into one per release, metric and bounds (they are only ever added up).
_FOLD_HISTOGRAMS: Final = """
INSERT INTO liveobs_kept_histograms
WITH points AS (
    SELECT ServiceName, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] AS Environment,
           ResourceAttributes[$SERVICE_VERSION] AS Release, MetricName, Attributes, StartTimeUnix, TimeUnix, "Count",
           BucketCounts, ExplicitBounds, "Max", AggregationTemporality
    FROM otel_metrics_histogram
    WHERE TimeUnix < $cutoff AND nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL
      AND MetricName IN ($METRIC_CONNECT_DURATION, $METRIC_PATCH_SIZE) AND "Count" > 0
), latest AS (
    SELECT *, row_number() OVER (PARTITION BY ServiceName, Environment, Release, MetricName, Attributes, StartTimeUnix
                                 ORDER BY TimeUnix DESC) AS nth
    FROM points WHERE AggregationTemporality = 2
), deltas AS (
    SELECT * FROM points WHERE AggregationTemporality IS DISTINCT FROM 2
), buckets AS (
    SELECT ServiceName, Environment, Release, MetricName, ExplicitBounds, i, sum(n) AS n
    FROM (SELECT ServiceName, Environment, Release, MetricName, ExplicitBounds,
                 unnest(generate_series(1, len(BucketCounts))) AS i, unnest(BucketCounts) AS n FROM deltas)
    GROUP BY ServiceName, Environment, Release, MetricName, ExplicitBounds, i
), merged AS (
    SELECT ServiceName, Environment, Release, MetricName, ExplicitBounds, list(n ORDER BY i) AS BucketCounts
    FROM buckets GROUP BY ServiceName, Environment, Release, MetricName, ExplicitBounds
), totals AS (
    SELECT ServiceName, Environment, Release, MetricName, ExplicitBounds, min(StartTimeUnix) AS StartTimeUnix,
           max(TimeUnix) AS TimeUnix, sum("Count") AS "Count", max("Max") AS "Max"
    FROM deltas GROUP BY ServiceName, Environment, Release, MetricName, ExplicitBounds
)
SELECT ServiceName, Environment, Release, MetricName, Attributes, StartTimeUnix, TimeUnix, "Count", BucketCounts,
       ExplicitBounds, "Max", AggregationTemporality
FROM latest WHERE nth = 1
UNION ALL
SELECT m.ServiceName, m.Environment, m.Release, m.MetricName, MAP {}, s.StartTimeUnix, s.TimeUnix, s."Count",
       m.BucketCounts, m.ExplicitBounds, s."Max", 1
FROM merged AS m
JOIN totals AS s ON s.ServiceName IS NOT DISTINCT FROM m.ServiceName AND s.Environment IS NOT DISTINCT FROM m.Environment
    AND s.Release = m.Release AND s.MetricName = m.MetricName AND s.ExplicitBounds = m.ExplicitBounds
"""

# The process memory points before $cutoff (sums or gauges: $table), the KEPT_SAMPLES with the smallest
# hash(TimeUnix, "Value") per release, as regression_memory samples them.
_FOLD_MEMORY: Final = """
INSERT INTO liveobs_kept_process
SELECT ServiceName, Environment, Release, MetricName, ResourceAttributes, Attributes, StartTimeUnix, TimeUnix, "Value",
       AggregationTemporality
FROM (
    SELECT ServiceName, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] AS Environment,
           ResourceAttributes[$SERVICE_VERSION] AS Release, MetricName, ResourceAttributes, Attributes, StartTimeUnix,
           TimeUnix, "Value", {temporality} AS AggregationTemporality,
           row_number() OVER (PARTITION BY ServiceName, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT],
                              ResourceAttributes[$SERVICE_VERSION] ORDER BY hash(TimeUnix, "Value")) AS nth
    FROM {table}
    WHERE TimeUnix < $cutoff AND nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL
      AND MetricName = $METRIC_PROCESS_MEMORY
)
WHERE nth <= $kept
"""

_PRUNE_MEMORY: Final = """
DELETE FROM liveobs_kept_process WHERE rowid IN (
    SELECT id FROM (
        SELECT rowid AS id, row_number() OVER (PARTITION BY ServiceName, Environment, Release, MetricName
                                               ORDER BY hash(TimeUnix, "Value")) AS nth
        FROM liveobs_kept_process
    )
    WHERE nth > $kept
)
"""

# The stack of the newest failing span per incident (fingerprint, release, service, environment) before $cutoff.
_FOLD_STACKS: Final = """
INSERT INTO liveobs_kept_stacks
SELECT t.TraceId, t.SpanId, t."Timestamp", stacks[1]
FROM (
    SELECT TraceId, SpanId,
           list_filter(list_transform(Events.Attributes, lambda a: a[$EXCEPTION_STACKTRACE]),
                       lambda s: s IS NOT NULL AND s <> '') AS stacks, "Timestamp"
    FROM otel_traces
    WHERE "Timestamp" < $cutoff AND len(Events."Name") > 0
) AS t
JOIN (
    SELECT arg_max(TraceId, "Timestamp") AS TraceId, arg_max(SpanId, "Timestamp") AS SpanId
    FROM liveobs_errors
    WHERE Source = 'span' AND "Timestamp" < $cutoff AND TraceId IS NOT NULL AND SpanId IS NOT NULL
      -- Occurrences whose spans an earlier pass deleted were folded then.
      AND "Timestamp" >= (SELECT min("Timestamp") - INTERVAL 1 SECOND FROM otel_traces)
    GROUP BY Fingerprint, ServiceVersion, ServiceName, Environment
) AS e ON e.TraceId = t.TraceId AND e.SpanId = t.SpanId
WHERE len(t.stacks) > 0
  AND NOT EXISTS (SELECT 1 FROM liveobs_kept_stacks AS k WHERE k.TraceId = t.TraceId AND k.SpanId = t.SpanId)
"""


# One row per service, environment and release: each pass appends the facts of what it deleted, merged here.
_MERGE_RELEASES: Final = (
    """CREATE OR REPLACE TEMP TABLE lo_merged_releases AS
       SELECT ServiceName, Environment, Release, min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen,
              sum(Spans) AS Spans, sum(Requests) AS Requests, min(FirstRequest) AS FirstRequest,
              max(LastRequest) AS LastRequest
       FROM liveobs_releases GROUP BY ServiceName, Environment, Release""",
    "DELETE FROM liveobs_releases",
    "INSERT INTO liveobs_releases SELECT * FROM lo_merged_releases",
    "DROP TABLE lo_merged_releases",
)
# Kept samples and stacks of evidence older than the kept horizon go; the release facts stay.
EXPIRED: Final = (
    ("liveobs_kept_spans", '"Timestamp"'),
    ("liveobs_kept_actions", '"Timestamp"'),
    ("liveobs_kept_stacks", '"Timestamp"'),
    ("liveobs_kept_process", "TimeUnix"),
    ("liveobs_kept_histograms", "TimeUnix"),
)


def _params(sql: str, cutoff_ns: int, kept: int) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: value for module in (keys, evidence) for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str)
    }
    values.update(cutoff=cutoff_ns, kept=kept)
    return {name: values[name] for name in dict.fromkeys(_PARAM.findall(sql))}


def _run(con: duckdb.DuckDBPyConnection, sql: str, cutoff_ns: int, kept: int) -> None:
    # The cutoff is bound as epoch ns and compared as a timestamp.
    text = sql.replace("$cutoff", "make_timestamp_ns($cutoff)")
    con.execute(text, _params(text, cutoff_ns, kept))


def fold_spans(con: duckdb.DuckDBPyConnection, cutoff_ns: int, kept: int = KEPT_SAMPLES) -> None:
    """Fold the spans older than ``cutoff_ns`` into the release facts, baseline samples and incident stacks."""
    for sql in (_FOLD_FACTS, _FOLD_SPANS, _PRUNE_SPANS, _FOLD_STACKS):
        _run(con, sql, cutoff_ns, kept)
    for sql in _MERGE_RELEASES:
        con.execute(sql)


def expire_kept(con: duckdb.DuckDBPyConnection, horizon_ns: int) -> int:
    """Delete the kept samples and stacks of evidence older than ``horizon_ns``; the rows deleted."""
    deleted = 0
    for table, column in EXPIRED:
        rows = con.execute(f"DELETE FROM {table} WHERE {column} < make_timestamp_ns(?)", [horizon_ns]).fetchall()
        deleted += int(rows[0][0]) if rows else 0
    return deleted


def fold_logs(con: duckdb.DuckDBPyConnection, cutoff_ns: int, kept: int = KEPT_SAMPLES) -> None:
    """Fold the log records older than ``cutoff_ns`` into the baseline samples of browser actions."""
    for sql in (_FOLD_ACTIONS, _PRUNE_ACTIONS):
        _run(con, sql, cutoff_ns, kept)


def fold_histograms(con: duckdb.DuckDBPyConnection, cutoff_ns: int, kept: int = KEPT_SAMPLES) -> None:
    """Fold the histogram points older than ``cutoff_ns`` into the kept connect and patch-size histograms."""
    _run(con, _FOLD_HISTOGRAMS, cutoff_ns, kept)


def fold_sums(con: duckdb.DuckDBPyConnection, cutoff_ns: int, kept: int = KEPT_SAMPLES) -> None:
    """Fold the counter points older than ``cutoff_ns`` into the kept memory samples."""
    _run(con, _FOLD_MEMORY.format(table="otel_metrics_sum", temporality="AggregationTemporality"), cutoff_ns, kept)
    _run(con, _PRUNE_MEMORY, cutoff_ns, kept)


def fold_gauges(con: duckdb.DuckDBPyConnection, cutoff_ns: int, kept: int = KEPT_SAMPLES) -> None:
    """Fold the gauge points older than ``cutoff_ns`` into the kept memory samples."""
    _run(con, _FOLD_MEMORY.format(table="otel_metrics_gauge", temporality="NULL"), cutoff_ns, kept)
    _run(con, _PRUNE_MEMORY, cutoff_ns, kept)
