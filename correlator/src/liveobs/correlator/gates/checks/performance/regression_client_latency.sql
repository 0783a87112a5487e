-- Browser click-to-patch latency of this release against the baseline release's (rank test plus effect-size floor).
SELECT
    (SELECT list(v) FROM (SELECT BrowserLatencyMs AS v FROM (SELECT *, EventId AS k FROM lo_logs) WHERE EventName = $BROWSER_ACTION_EVENT AND BrowserLatencyMs IS NOT NULL ORDER BY hash(k) LIMIT $max_samples)) AS current,
    (SELECT list(v) FROM (SELECT BrowserLatencyMs AS v FROM (SELECT *, EventId AS k FROM lo_baseline_logs) WHERE EventName = $BROWSER_ACTION_EVENT AND BrowserLatencyMs IS NOT NULL ORDER BY hash(k) LIMIT $max_samples)) AS baseline;
