-- Click-to-patch latency in ms as browsers measured it (browser.action records), at the budget's percentile.
SELECT quantile_cont(BrowserLatencyMs, $quantile) AS observed,
       count(BrowserLatencyMs) AS evidence,
       format('{} browser actions with a latency', count(BrowserLatencyMs)) AS detail
FROM lo_logs
WHERE EventName = $BROWSER_ACTION_EVENT;
