-- Server-side live event latency in ms (span durations of live event spans), at the budget's percentile.
SELECT quantile_cont(Duration / 1e6, $quantile) AS observed,
       count(*) AS evidence,
       format('{} live event spans', count(*)) AS detail
FROM lo_spans
WHERE LiveEventName IS NOT NULL AND nullif(EventId, '') IS NOT NULL;
