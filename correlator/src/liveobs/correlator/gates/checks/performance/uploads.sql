-- Upload time in ms, at the budget's percentile (not applicable without uploads).
SELECT t.bounds, t.counts, t.top, coalesce(t.evidence, 0) AS evidence, coalesce(t.evidence, 0) > 0 AS applicable
FROM (SELECT $METRIC_UPLOAD_DURATION AS name) AS wanted
LEFT JOIN lo_histogram_totals AS t ON t.MetricName = wanted.name;
