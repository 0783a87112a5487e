-- The subject's evidence, scoped once per run so that each check reads narrow tables.
-- Parameters: $service, $release, $environment (NULL = any), $since, $until, and the
-- convention keys ($SERVICE_VERSION, ...), bound from liveobs.conventions.

CREATE OR REPLACE TEMP TABLE lo_spans AS
SELECT
    "Timestamp", TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ScopeName,
    Duration, StatusCode, StatusMessage,
    SpanAttributes[$SESSION_ID] AS SessionId,
    SpanAttributes[$REQUEST_ID] AS RequestId,
    SpanAttributes[$EVENT_ID] AS EventId,
    SpanAttributes[$ROUTE_ID] AS RouteId,
    SpanAttributes[$HTTP_ROUTE] AS HttpRoute,
    SpanAttributes[$CONNECTION_ID] AS ConnectionId,
    SpanAttributes[$EVENT_NAME] AS LiveEventName,
    SpanAttributes[$ERROR_TYPE] AS ErrorType,
    SpanAttributes[$ERROR_FINGERPRINT] AS Fingerprint,
    SpanAttributes[$HTTP_REQUEST_METHOD] AS HttpMethod,
    SpanAttributes[$ERROR_REPLY_FIELDS] AS ErrorReplyFields,
    TRY_CAST(SpanAttributes[$HTTP_RESPONSE_STATUS_CODE] AS INTEGER) AS HttpStatus,
    CASE WHEN len(Events."Name") > 0 THEN Events END AS Events,
    coalesce(len(list_filter(Events.Attributes, lambda a: a[$SECURITY_CHECK] = $CHECK_CSP)) > 0, false) AS Html
FROM otel_traces
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND "Timestamp" >= $since AND "Timestamp" < $until;

CREATE OR REPLACE TEMP TABLE lo_span_events AS
SELECT
    TraceId, SpanId, SpanKind, ScopeName, RouteId, HttpRoute, StatusCode, HttpStatus,
    unnest(Events."Timestamp") AS EventTime,
    unnest(Events."Name") AS EventName,
    unnest(Events.Attributes) AS Attributes
FROM lo_spans
WHERE Events IS NOT NULL;

CREATE OR REPLACE TEMP TABLE lo_logs AS
SELECT
    "Timestamp", TraceId, SpanId, ServiceName, ScopeName, EventName, SeverityNumber,
    LogAttributes[$SESSION_ID] AS SessionId,
    LogAttributes[$REQUEST_ID] AS RequestId,
    LogAttributes[$EVENT_ID] AS EventId,
    LogAttributes[$ROUTE_ID] AS RouteId,
    LogAttributes[$HTTP_ROUTE] AS HttpRoute,
    LogAttributes[$CONNECTION_ID] AS ConnectionId,
    LogAttributes[$ERROR_TYPE] AS ErrorType,
    LogAttributes[$ERROR_FINGERPRINT] AS Fingerprint,
    TRY_CAST(LogAttributes[$BROWSER_LATENCY_MS] AS DOUBLE) AS BrowserLatencyMs,
    TRY_CAST(LogAttributes[$BROWSER_CONNECT_MS] AS DOUBLE) AS BrowserConnectMs
FROM otel_logs
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND "Timestamp" >= $since AND "Timestamp" < $until;

CREATE OR REPLACE TEMP TABLE lo_histograms AS
SELECT MetricName, TimeUnix, StartTimeUnix, Attributes, "Count", "Sum", "Min", "Max", BucketCounts, ExplicitBounds
FROM otel_metrics_histogram
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND TimeUnix >= $since AND TimeUnix < $until;

CREATE OR REPLACE TEMP TABLE lo_sums AS
SELECT MetricName, TimeUnix, StartTimeUnix, Attributes, ResourceAttributes, "Value", AggregationTemporality
FROM otel_metrics_sum
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND TimeUnix >= $since AND TimeUnix < $until;

CREATE OR REPLACE TEMP TABLE lo_gauges AS
SELECT MetricName, TimeUnix, Attributes, ResourceAttributes, "Value"
FROM otel_metrics_gauge
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND TimeUnix >= $since AND TimeUnix < $until;

-- Counter totals per metric: deltas add up; a cumulative series counts its last value
-- (a series restarts with a new StartTimeUnix).
CREATE OR REPLACE TEMP TABLE lo_counters AS
SELECT MetricName, sum(total) AS Total, count(*) AS Series, min(first_time) AS FirstTime, max(last_time) AS LastTime
FROM (
    SELECT MetricName,
           CASE WHEN any_value(AggregationTemporality) = 1 THEN sum("Value") ELSE max("Value") END AS total,
           min(TimeUnix) AS first_time, max(TimeUnix) AS last_time
    FROM lo_sums
    GROUP BY MetricName, StartTimeUnix, Attributes, ResourceAttributes
)
GROUP BY MetricName;
