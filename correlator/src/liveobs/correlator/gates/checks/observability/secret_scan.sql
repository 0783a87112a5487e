-- Stored attributes and bodies that hold a secret by the shared redaction rules (names where, never the value).
-- Candidates come from the scope (lo_secret_candidates); the shared rules decide.
SELECT
    (SELECT count(*) FROM lo_spans) + (SELECT count(*) FROM lo_logs) AS evidence,
    (SELECT list({'location': place || ' of ' || origin || CASE WHEN n > 1 THEN format(' and {} more', n - 1) ELSE '' END,
                  'entries': [{'key': key, 'value': value}]})
     FROM (SELECT * FROM lo_secret_candidates ORDER BY place, key LIMIT $max_candidates)) AS candidates,
    (SELECT count(*) FROM lo_secret_candidates) AS candidate_count;
