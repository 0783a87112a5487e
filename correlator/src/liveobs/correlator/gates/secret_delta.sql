-- The rows a kept secret scan has not seen yet (DuckDB only: rows are told apart by rowid): the subject's
-- spans and log records at or above $span_mark and $log_mark, with the columns the secret scan of
-- scope.sql reads from lo_spans and lo_logs, filled as the scope fills them when $scan_secrets is set.
-- The scope's own filter, so these rows are exactly the scope's rows above the marks.

CREATE OR REPLACE TEMP TABLE lo_secret_new_spans AS
SELECT SpanId, CASE WHEN len(Events."Name") > 0 THEN Events END AS Events,
       map_keys(SpanAttributes) AS SecretKeys, map_values(SpanAttributes) AS SecretValues,
       ResourceAttributes AS Resource, nullif(StatusMessage, '') AS StatusMessage
FROM otel_traces
WHERE rowid >= $span_mark
  AND ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND "Timestamp" >= $since AND "Timestamp" < $until
  AND "Timestamp" >= $span_from AND "Timestamp" < $span_to;

CREATE OR REPLACE TEMP TABLE lo_secret_new_logs AS
SELECT map_keys(LogAttributes) AS SecretKeys, map_values(LogAttributes) AS SecretValues,
       ResourceAttributes AS Resource, nullif(Body, '') AS Body,
       coalesce(nullif(TraceId, ''), CAST("Timestamp" AS VARCHAR)) AS Origin
FROM otel_logs
WHERE rowid >= $log_mark
  AND ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND "Timestamp" >= $since AND "Timestamp" < $until
  AND "Timestamp" >= $log_from AND "Timestamp" < $log_to;
