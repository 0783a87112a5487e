-- CPU use in cores of the busiest process: CPU seconds of every cpu.mode over wall seconds, for delta and cumulative temporality.
-- Measured intervals come from the scope (lo_cpu_intervals): consecutive points of a cumulative
-- series, or delta points after a process's first (which also holds the CPU spent before measuring).
-- A process is judged once it was measured for at least a second: a CPU clock that ticks every 10 ms,
-- read over a few milliseconds (a process's last export at shutdown), shows cores it never used.
WITH per_process AS (
    SELECT process, sum(cpu_seconds) AS cpu_seconds, sum(wall_seconds) AS wall_seconds, count(*) AS intervals
    FROM lo_cpu_intervals GROUP BY process
    HAVING sum(wall_seconds) >= 1.0
)
SELECT max(cpu_seconds / wall_seconds) AS observed,
       coalesce(sum(intervals), 0) AS evidence,
       format('{} processes, {} measured intervals', count(*), coalesce(sum(intervals), 0)) AS detail
FROM per_process;
