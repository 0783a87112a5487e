-- CPU use per measured interval (cores, every cpu.mode) of this release against the baseline release's (median and p95).
SELECT
    (SELECT list(cores) FROM (SELECT cores FROM lo_cpu_intervals ORDER BY hash(process, TimeUnix) LIMIT $max_samples)) AS current,
    (SELECT list(cores) FROM (SELECT cores FROM lo_baseline_cpu_intervals ORDER BY hash(process, TimeUnix) LIMIT $max_samples)) AS baseline;
