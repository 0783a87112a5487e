-- Peak concurrent live sessions seen (summed over processes): the release was exercised at the planned load.
WITH per_process AS (
    SELECT max("Value") AS peak, count(*) AS n FROM lo_sums WHERE MetricName = $METRIC_ACTIVE_SESSIONS GROUP BY ResourceAttributes
)
SELECT sum(peak) AS observed, coalesce(sum(n), 0) AS evidence,
       format('peak of {} concurrent sessions over {} processes', coalesce(sum(peak), 0), count(*)) AS detail
FROM per_process;
