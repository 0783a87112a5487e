-- Process memory samples (MiB) of this release against the baseline release's (median and p95).
SELECT
    (SELECT list(v) FROM (SELECT "Value" / 1048576 AS v FROM (
        SELECT "Value", TimeUnix FROM lo_gauges WHERE MetricName = $METRIC_PROCESS_MEMORY
        UNION ALL SELECT "Value", TimeUnix FROM lo_sums WHERE MetricName = $METRIC_PROCESS_MEMORY)
        ORDER BY hash(TimeUnix, "Value") LIMIT $max_samples)) AS current,
    (SELECT list(v) FROM (SELECT "Value" / 1048576 AS v FROM lo_baseline_process WHERE MetricName = $METRIC_PROCESS_MEMORY
        ORDER BY hash(TimeUnix, "Value") LIMIT $max_samples)) AS baseline;
