-- Page render time (HTTP server spans of HTML pages) of this release against the baseline release's (rank test plus effect-size floor).
SELECT
    (SELECT list(v) FROM (SELECT Duration / 1e6 AS v FROM (SELECT *, SpanId AS k FROM lo_spans) WHERE HttpMethod = 'GET' AND Html AND Duration / 1e6 IS NOT NULL ORDER BY hash(k) LIMIT $max_samples)) AS current,
    (SELECT list(v) FROM (SELECT Duration / 1e6 AS v FROM (SELECT *, SpanId AS k FROM lo_baseline_spans) WHERE HttpMethod = 'GET' AND Html AND Duration / 1e6 IS NOT NULL ORDER BY hash(k) LIMIT $max_samples)) AS baseline;
