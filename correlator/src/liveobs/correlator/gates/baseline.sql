-- The baseline release's samples for the regression checks (same service, environment and window).
-- Parameters: $service, $baseline (NULL = none: the tables stay empty), $environment, $since, $until,
-- and the baseline's first and last span and log record ($baseline_span_from, ...).
-- The spans and browser actions of a baseline whose raw rows retention deleted come from the
-- samples it kept (liveobs_kept_spans, liveobs_kept_actions): for each release, the rows with the
-- smallest hash of the key the regression checks sample by, so those checks pick the same rows.

CREATE OR REPLACE TEMP TABLE lo_baseline_spans AS
SELECT SpanId, Duration, SpanAttributes[$EVENT_NAME] AS LiveEventName, SpanAttributes[$HTTP_REQUEST_METHOD] AS HttpMethod,
       coalesce(len(list_filter(Events.Attributes, lambda a: a[$SECURITY_CHECK] = $CHECK_CSP)) > 0, false) AS Html
FROM otel_traces
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $baseline
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND "Timestamp" >= $since AND "Timestamp" < $until
  AND "Timestamp" >= $baseline_span_from AND "Timestamp" < $baseline_span_to
  AND (SpanAttributes[$EVENT_NAME] IS NOT NULL OR SpanAttributes[$HTTP_REQUEST_METHOD] = 'GET')
UNION ALL
SELECT SpanId, Duration, LiveEventName, HttpMethod, Html
FROM liveobs_kept_spans
WHERE ($service IS NULL OR ServiceName = $service)
  AND Release = $baseline
  AND ($environment IS NULL OR Environment = $environment)
  AND "Timestamp" >= $since AND "Timestamp" < $until;

CREATE OR REPLACE TEMP TABLE lo_baseline_logs AS
SELECT LogAttributes[$EVENT_ID] AS EventId, EventName, TRY_CAST(LogAttributes[$BROWSER_LATENCY_MS] AS DOUBLE) AS BrowserLatencyMs
FROM otel_logs
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $baseline
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND "Timestamp" >= $since AND "Timestamp" < $until
  AND "Timestamp" >= $baseline_log_from AND "Timestamp" < $baseline_log_to
  AND EventName = $BROWSER_ACTION_EVENT
UNION ALL
SELECT EventId, EventName, BrowserLatencyMs
FROM liveobs_kept_actions
WHERE ($service IS NULL OR ServiceName = $service)
  AND Release = $baseline
  AND ($environment IS NULL OR Environment = $environment)
  AND "Timestamp" >= $since AND "Timestamp" < $until;

-- The baseline's histograms, merged per metric as lo_histogram_totals merges the release's, with
-- those retention kept of deleted points (a cumulative series' latest point, delta points added up).
CREATE OR REPLACE TEMP TABLE lo_baseline_histogram_totals AS
WITH stored AS (
    SELECT MetricName, ExplicitBounds, BucketCounts, "Max", AggregationTemporality, Attributes, StartTimeUnix, TimeUnix
    FROM otel_metrics_histogram
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $baseline
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
      AND TimeUnix >= $since AND TimeUnix < $until
      AND MetricName IN ($METRIC_CONNECT_DURATION, $METRIC_PATCH_SIZE)
      AND "Count" > 0
    UNION ALL
    SELECT MetricName, ExplicitBounds, BucketCounts, "Max", AggregationTemporality, Attributes, StartTimeUnix, TimeUnix
    FROM liveobs_kept_histograms
    WHERE ($service IS NULL OR ServiceName = $service)
      AND Release = $baseline
      AND ($environment IS NULL OR Environment = $environment)
      AND TimeUnix >= $since AND TimeUnix < $until
), points AS (
    SELECT MetricName, ExplicitBounds AS bounds, BucketCounts AS counts, "Max" AS top,
           AggregationTemporality = 2 AND row_number() OVER (
               PARTITION BY MetricName, Attributes, StartTimeUnix, AggregationTemporality ORDER BY TimeUnix DESC) > 1 AS superseded
    FROM stored
), buckets AS (
    SELECT MetricName, unnest(generate_series(1, len(counts))) AS i, unnest(counts) AS n
    FROM points WHERE NOT superseded
), merged AS (
    SELECT MetricName, list(n ORDER BY i) AS counts
    FROM (SELECT MetricName, i, sum(n) AS n FROM buckets GROUP BY MetricName, i)
    GROUP BY MetricName
)
SELECT m.MetricName, p.bounds, m.counts, p.top
FROM merged AS m
JOIN (SELECT MetricName, any_value(bounds) AS bounds, max(top) AS top FROM points WHERE NOT superseded GROUP BY MetricName)
    AS p USING (MetricName);

-- The baseline's process memory (MiB) and CPU points.
CREATE OR REPLACE TEMP TABLE lo_baseline_process AS
SELECT MetricName, ResourceAttributes, Attributes, StartTimeUnix, TimeUnix, "Value", AggregationTemporality
FROM otel_metrics_sum
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $baseline
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND TimeUnix >= $since AND TimeUnix < $until
  AND MetricName IN ($METRIC_PROCESS_CPU, $METRIC_PROCESS_MEMORY)
UNION ALL
SELECT MetricName, ResourceAttributes, Attributes, StartTimeUnix, TimeUnix, "Value", NULL
FROM otel_metrics_gauge
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $baseline
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND TimeUnix >= $since AND TimeUnix < $until
  AND MetricName = $METRIC_PROCESS_MEMORY
UNION ALL
SELECT MetricName, ResourceAttributes, Attributes, StartTimeUnix, TimeUnix, "Value", AggregationTemporality
FROM liveobs_kept_process
WHERE ($service IS NULL OR ServiceName = $service)
  AND Release = $baseline
  AND ($environment IS NULL OR Environment = $environment)
  AND TimeUnix >= $since AND TimeUnix < $until;

CREATE OR REPLACE TEMP TABLE lo_baseline_cpu_intervals AS
WITH points AS (
    SELECT ResourceAttributes AS process, Attributes, StartTimeUnix, TimeUnix, "Value", AggregationTemporality AS t,
           lag("Value") OVER w AS previous_value, lag(TimeUnix) OVER w AS previous_time,
           row_number() OVER (PARTITION BY ResourceAttributes, Attributes ORDER BY TimeUnix) AS nth
    FROM lo_baseline_process WHERE MetricName = $METRIC_PROCESS_CPU
    WINDOW w AS (PARTITION BY ResourceAttributes, Attributes, StartTimeUnix ORDER BY TimeUnix)
), spans AS (
    -- A process's first delta point also holds the CPU spent before its meter started: not an interval.
    SELECT process, TimeUnix,
           CASE WHEN t = 1 AND nth > 1 THEN "Value" WHEN t = 2 THEN "Value" - previous_value END AS cpu_seconds,
           CASE WHEN t = 1 AND nth > 1 THEN epoch(TimeUnix) - epoch(StartTimeUnix)
                WHEN t = 2 THEN epoch(TimeUnix) - epoch(previous_time) END AS wall_seconds
    FROM points
)
SELECT process, TimeUnix, sum(cpu_seconds) AS cpu_seconds, max(wall_seconds) AS wall_seconds,
       sum(cpu_seconds) / max(wall_seconds) AS cores
FROM spans WHERE cpu_seconds IS NOT NULL AND wall_seconds > 0
GROUP BY process, TimeUnix;
