-- Compressed to raw size of live patches, at the budget's percentile (lower is better).
SELECT t.bounds, t.counts, t.top, coalesce(t.evidence, 0) AS evidence
FROM (SELECT $METRIC_COMPRESSION_RATIO AS name) AS wanted
LEFT JOIN lo_histogram_totals AS t ON t.MetricName = wanted.name;
