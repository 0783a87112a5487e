-- Size of a live patch in bytes, at the budget's percentile.
SELECT t.bounds, t.counts, t.top, coalesce(t.evidence, 0) AS evidence
FROM (SELECT $METRIC_PATCH_SIZE AS name) AS wanted
LEFT JOIN lo_histogram_totals AS t ON t.MetricName = wanted.name;
