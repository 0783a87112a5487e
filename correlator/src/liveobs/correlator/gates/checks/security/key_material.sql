-- Key material (private keys, signing and session secrets, tokens) anywhere in the stored evidence.
WITH spans AS (
    SELECT 'span ' || SpanId AS location,
           list_concat(map_entries(SpanAttributes), map_entries(ResourceAttributes),
                       flatten(list_transform(coalesce(Events.Attributes, []), lambda m: map_entries(m))),
                       [{'key': 'status.message', 'value': StatusMessage}]) AS entries
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $release
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
), logs AS (
    SELECT 'log record at ' || CAST("Timestamp" AS VARCHAR) || coalesce(' in trace ' || nullif(TraceId, ''), '') AS location,
           list_concat(map_entries(LogAttributes), map_entries(ResourceAttributes),
                       [{'key': 'body', 'value': Body}]) AS entries
    FROM otel_logs
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $release
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
), rows AS (
    SELECT * FROM spans UNION ALL SELECT * FROM logs
), candidates AS (
    SELECT location, entries FROM rows
    WHERE regexp_matches(array_to_string(list_transform(entries, lambda e: e.value), chr(10)), $secret_value_re)
       OR len(list_filter(entries, lambda e: regexp_matches(e.key, $secret_key_re) AND nullif(e.value, '') IS NOT NULL
                                        AND NOT starts_with(e.value, $secret_marker))) > 0
       OR len(list_filter(
              regexp_extract_all(array_to_string(list_transform(entries, lambda e: e.value), chr(10)), '[A-Za-z0-9_+/-]{32,}'),
              lambda t: regexp_matches(t, '[0-9]') AND regexp_matches(t, '[a-z]') AND regexp_matches(t, '[A-Z]'))) > 0
)
SELECT
    (SELECT count(*) FROM rows) AS evidence,
    (SELECT list({'location': location, 'entries': entries}) FROM (SELECT * FROM candidates LIMIT $max_candidates)) AS candidates,
    (SELECT count(*) FROM candidates) AS candidate_count;
