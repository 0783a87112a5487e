-- WebSocket connect time of this release against the baseline release's (binned samples of both histograms; median and p95).
SELECT
    (SELECT {'bounds': bounds, 'counts': counts, 'top': top} FROM lo_histogram_totals WHERE MetricName = $METRIC_CONNECT_DURATION) AS current_histogram,
    (SELECT {'bounds': bounds, 'counts': counts, 'top': top} FROM lo_baseline_histogram_totals WHERE MetricName = $METRIC_CONNECT_DURATION) AS baseline_histogram;
