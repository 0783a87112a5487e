-- CPU use in cores (CPU seconds over wall seconds), the busiest process.
WITH per_process AS (
    SELECT max("Value") - min("Value") AS cpu_seconds,
           epoch(max(TimeUnix)) - epoch(min(TimeUnix)) AS wall_seconds, count(*) AS n
    FROM lo_sums WHERE MetricName = $METRIC_PROCESS_CPU
    GROUP BY ResourceAttributes, StartTimeUnix
)
SELECT max(cpu_seconds / wall_seconds) FILTER (WHERE wall_seconds > 0) AS observed,
       coalesce(sum(n) FILTER (WHERE wall_seconds > 0), 0) AS evidence,
       format('{} processes with CPU samples', count(*)) AS detail
FROM per_process;
