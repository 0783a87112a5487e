-- CPU use in cores of the busiest process: CPU seconds of every cpu.mode over wall seconds, for delta and cumulative temporality.
-- Delta points each hold the CPU time of [StartTimeUnix, TimeUnix]; a cumulative series (one per mode and
-- process start) grows, so its first and last points bound what it spent between them.
WITH series AS (
    SELECT ResourceAttributes AS process, Attributes, StartTimeUnix,
           any_value(AggregationTemporality) AS temporality,
           CASE WHEN any_value(AggregationTemporality) = 1 THEN sum("Value") ELSE max("Value") - min("Value") END AS cpu_seconds,
           CASE WHEN any_value(AggregationTemporality) = 1 THEN min(StartTimeUnix) ELSE min(TimeUnix) END AS began,
           max(TimeUnix) AS ended,
           CASE WHEN any_value(AggregationTemporality) = 1 THEN count(*) ELSE count(*) - 1 END AS intervals
    FROM lo_sums WHERE MetricName = $METRIC_PROCESS_CPU
    GROUP BY ResourceAttributes, Attributes, StartTimeUnix
), per_mode AS (
    -- A delta series has a new StartTimeUnix each export: add up a mode's points over the process.
    SELECT process, Attributes, sum(cpu_seconds) AS cpu_seconds, min(began) AS began, max(ended) AS ended,
           sum(intervals) AS intervals
    FROM series GROUP BY process, Attributes
), per_process AS (
    SELECT process, sum(cpu_seconds) AS cpu_seconds, epoch(max(ended)) - epoch(min(began)) AS wall_seconds,
           max(intervals) AS intervals
    FROM per_mode GROUP BY process
)
SELECT max(cpu_seconds / wall_seconds) FILTER (WHERE wall_seconds > 0 AND intervals > 0) AS observed,
       coalesce(sum(intervals) FILTER (WHERE wall_seconds > 0), 0) AS evidence,
       format('{} processes, {} measured intervals', count(*), coalesce(sum(intervals), 0)) AS detail
FROM per_process;
