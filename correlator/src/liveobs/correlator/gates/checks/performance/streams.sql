-- Bytes sent per streamed item.
WITH c AS (
    SELECT coalesce((SELECT sum(Total) FROM lo_counters WHERE MetricName = $METRIC_STREAM_BYTES), 0) AS bytes,
           coalesce((SELECT sum(Total) FROM lo_counters WHERE MetricName = $METRIC_STREAM_ITEMS), 0) AS items
)
SELECT CASE WHEN items > 0 THEN bytes / items END AS observed,
       CAST(items AS BIGINT) AS evidence,
       format('{} bytes over {} stream items', bytes, items) AS detail
FROM c;
