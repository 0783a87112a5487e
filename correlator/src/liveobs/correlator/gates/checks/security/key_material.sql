-- Key material (private keys, signing and session secrets, tokens) anywhere in the stored evidence.
-- Each distinct (place, key, value) is judged once; the id keys the shared rules allow-list are skipped.
-- The scope keeps each record's entries outside the allow-list (SecretEntries); resources, the
-- same for every record of a process, are grouped before their entries are read.
WITH resources AS (
    SELECT 'span resource attribute' AS place, 'span ' || any_value(SpanId) AS origin, Resource, count(*) AS n
    FROM lo_spans GROUP BY Resource
    UNION ALL
    SELECT 'log resource attribute', 'log record ' || any_value(Origin), Resource, count(*) FROM lo_logs GROUP BY Resource
), entries AS (
    SELECT 'span attribute' AS place, SpanId AS origin, unnest(SecretEntries) AS e FROM lo_spans WHERE len(SecretEntries) > 0
    UNION ALL SELECT 'span event attribute', SpanId, unnest(flatten(list_transform(Events.Attributes, lambda m: map_entries(m))))
              FROM lo_spans WHERE Events IS NOT NULL
    UNION ALL SELECT 'span status message', SpanId, {'key': 'status.message', 'value': StatusMessage}
              FROM lo_spans WHERE StatusMessage IS NOT NULL
    UNION ALL SELECT 'log attribute', Origin, unnest(SecretEntries) FROM lo_logs WHERE len(SecretEntries) > 0
    UNION ALL SELECT 'log body', Origin, {'key': 'body', 'value': Body} FROM lo_logs WHERE Body IS NOT NULL
), distinct_entries AS MATERIALIZED (
    SELECT place, e.key AS key, e.value AS value, count(*) AS n,
           CASE WHEN starts_with(place, 'span') THEN 'span ' ELSE 'log record ' END || any_value(origin) AS origin
    FROM entries
    WHERE NOT list_contains($secret_allowed_keys, e.key) AND nullif(e.value, '') IS NOT NULL
    GROUP BY place, key, value
    UNION ALL
    SELECT place, e.key, e.value, sum(n), any_value(origin)
    FROM (SELECT place, origin, n, unnest(map_entries(Resource)) AS e FROM resources)
    WHERE NOT list_contains($secret_allowed_keys, e.key) AND nullif(e.value, '') IS NOT NULL
    GROUP BY place, e.key, e.value
), candidates AS MATERIALIZED (
    SELECT * FROM distinct_entries
    WHERE regexp_matches(value, $secret_value_re)
       OR (regexp_matches(key, $secret_key_re) AND NOT starts_with(value, $secret_marker))
       OR len(list_filter(regexp_extract_all(value, '[A-Za-z0-9_+/-]{32,}'),
                          lambda t: regexp_matches(t, '[0-9]') AND regexp_matches(t, '[a-z]') AND regexp_matches(t, '[A-Z]'))) > 0
)
SELECT
    (SELECT count(*) FROM lo_spans) + (SELECT count(*) FROM lo_logs) AS evidence,
    (SELECT list({'location': place || ' of ' || origin || CASE WHEN n > 1 THEN format(' and {} more', n - 1) ELSE '' END,
                  'entries': [{'key': key, 'value': value}]})
     FROM (SELECT * FROM candidates ORDER BY place, key LIMIT $max_candidates)) AS candidates,
    (SELECT count(*) FROM candidates) AS candidate_count;
