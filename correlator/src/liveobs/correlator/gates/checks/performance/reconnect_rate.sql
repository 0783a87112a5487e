-- Reconnects per WebSocket connect.
WITH c AS (
    SELECT coalesce((SELECT sum(Total) FROM lo_counters WHERE MetricName = $METRIC_RECONNECTS), 0) AS reconnects,
           coalesce((SELECT sum("Count") FROM lo_histograms WHERE MetricName = $METRIC_CONNECT_DURATION), 0) AS connects
)
SELECT CASE WHEN connects > 0 THEN reconnects / connects END AS observed,
       connects AS evidence,
       format('{} reconnects over {} connects', reconnects, connects) AS detail
FROM c;
