-- The baseline release's samples for the regression checks (same service, environment and window).
-- Parameters: $service, $baseline (NULL = none: the tables stay empty), $environment, $since, $until,
-- and the baseline's first and last span and log record ($baseline_span_from, ...).

CREATE OR REPLACE TEMP TABLE lo_baseline_spans AS
SELECT SpanId, Duration, SpanAttributes[$EVENT_NAME] AS LiveEventName, SpanAttributes[$HTTP_REQUEST_METHOD] AS HttpMethod,
       coalesce(len(list_filter(Events.Attributes, lambda a: a[$SECURITY_CHECK] = $CHECK_CSP)) > 0, false) AS Html
FROM otel_traces
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $baseline
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND "Timestamp" >= $since AND "Timestamp" < $until
  AND "Timestamp" >= $baseline_span_from AND "Timestamp" < $baseline_span_to
  AND (SpanAttributes[$EVENT_NAME] IS NOT NULL OR SpanAttributes[$HTTP_REQUEST_METHOD] = 'GET');

CREATE OR REPLACE TEMP TABLE lo_baseline_logs AS
SELECT LogAttributes[$EVENT_ID] AS EventId, EventName, TRY_CAST(LogAttributes[$BROWSER_LATENCY_MS] AS DOUBLE) AS BrowserLatencyMs
FROM otel_logs
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $baseline
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND "Timestamp" >= $since AND "Timestamp" < $until
  AND "Timestamp" >= $baseline_log_from AND "Timestamp" < $baseline_log_to
  AND EventName = $BROWSER_ACTION_EVENT;
