-- Key material (private keys, signing and session secrets, tokens) anywhere in the stored evidence.
-- Candidates come from the scope (lo_secret_candidates); the engine keeps key material.
SELECT
    (SELECT count(*) FROM lo_spans) + (SELECT count(*) FROM lo_logs) AS evidence,
    (SELECT list({'location': place || ' of ' || origin || CASE WHEN n > 1 THEN format(' and {} more', n - 1) ELSE '' END,
                  'entries': [{'key': key, 'value': value}]})
     FROM (SELECT * FROM lo_secret_candidates ORDER BY place, key LIMIT $max_candidates)) AS candidates,
    (SELECT count(*) FROM lo_secret_candidates) AS candidate_count;
