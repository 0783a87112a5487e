-- Peak resident memory of one process in MiB.
WITH samples AS (
    SELECT "Value" FROM lo_gauges WHERE MetricName = $METRIC_PROCESS_MEMORY
    UNION ALL SELECT "Value" FROM lo_sums WHERE MetricName = $METRIC_PROCESS_MEMORY
)
SELECT max("Value") / 1048576 AS observed, count(*) AS evidence,
       format('{} memory samples', count(*)) AS detail
FROM samples;
