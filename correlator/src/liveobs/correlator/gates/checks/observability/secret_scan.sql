-- Stored attributes and bodies that hold a secret by the shared redaction rules (names where, never the value).
-- Each distinct (place, key, value) is judged once; the id keys the shared rules allow-list are skipped.
WITH spans AS (
    SELECT SpanId, SpanAttributes, ResourceAttributes, Events, StatusMessage
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $release
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
), logs AS (
    SELECT coalesce(nullif(TraceId, ''), CAST("Timestamp" AS VARCHAR)) AS origin, LogAttributes, ResourceAttributes, Body
    FROM otel_logs
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $release
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
), entries AS (
    SELECT 'span attribute' AS place, 'span ' || SpanId AS origin, unnest(map_entries(SpanAttributes)) AS e FROM spans
    UNION ALL SELECT 'span resource attribute', 'span ' || SpanId, unnest(map_entries(ResourceAttributes)) FROM spans
    UNION ALL SELECT 'span event attribute', 'span ' || SpanId,
                     unnest(flatten(list_transform(Events.Attributes, lambda m: map_entries(m))))
              FROM spans WHERE len(Events."Name") > 0
    UNION ALL SELECT 'span status message', 'span ' || SpanId, {'key': 'status.message', 'value': StatusMessage}
              FROM spans WHERE nullif(StatusMessage, '') IS NOT NULL
    UNION ALL SELECT 'log attribute', 'log record ' || origin, unnest(map_entries(LogAttributes)) FROM logs
    UNION ALL SELECT 'log resource attribute', 'log record ' || origin, unnest(map_entries(ResourceAttributes)) FROM logs
    UNION ALL SELECT 'log body', 'log record ' || origin, {'key': 'body', 'value': Body} FROM logs WHERE nullif(Body, '') IS NOT NULL
), distinct_entries AS MATERIALIZED (
    SELECT place, e.key AS key, e.value AS value, count(*) AS n, any_value(origin) AS origin
    FROM entries
    WHERE NOT list_contains($secret_allowed_keys, e.key) AND nullif(e.value, '') IS NOT NULL
    GROUP BY ALL
), candidates AS MATERIALIZED (
    SELECT * FROM distinct_entries
    WHERE regexp_matches(value, $secret_value_re)
       OR (regexp_matches(key, $secret_key_re) AND NOT starts_with(value, $secret_marker))
       OR len(list_filter(regexp_extract_all(value, '[A-Za-z0-9_+/-]{32,}'),
                          lambda t: regexp_matches(t, '[0-9]') AND regexp_matches(t, '[a-z]') AND regexp_matches(t, '[A-Z]'))) > 0
)
SELECT
    (SELECT count(*) FROM spans) + (SELECT count(*) FROM logs) AS evidence,
    (SELECT list({'location': place || ' of ' || origin || CASE WHEN n > 1 THEN format(' and {} more', n - 1) ELSE '' END,
                  'entries': [{'key': key, 'value': value}]})
     FROM (SELECT * FROM candidates ORDER BY place, key LIMIT $max_candidates)) AS candidates,
    (SELECT count(*) FROM candidates) AS candidate_count;
