-- Server live event latency of this release against the baseline release's (rank test plus effect-size floor).
SELECT
    (SELECT list(v) FROM (SELECT Duration / 1e6 AS v FROM (SELECT *, SpanId AS k FROM lo_spans) WHERE LiveEventName IS NOT NULL AND Duration / 1e6 IS NOT NULL ORDER BY hash(k) LIMIT $max_samples)) AS current,
    (SELECT list(v) FROM (SELECT Duration / 1e6 AS v FROM (SELECT *, SpanId AS k FROM lo_baseline_spans) WHERE LiveEventName IS NOT NULL AND Duration / 1e6 IS NOT NULL ORDER BY hash(k) LIMIT $max_samples)) AS baseline;
