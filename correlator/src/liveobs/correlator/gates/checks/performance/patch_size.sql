-- Size of a live patch in bytes, at the budget's percentile.
WITH h AS (
    SELECT ExplicitBounds AS bounds, BucketCounts AS counts, "Max" AS top
    FROM lo_histograms
    WHERE MetricName = $METRIC_PATCH_SIZE AND "Count" > 0
), buckets AS (
    SELECT unnest(generate_series(1, len(counts))) AS i, unnest(counts) AS n FROM h
), merged AS (
    SELECT i, sum(n) AS n FROM buckets GROUP BY i
)
SELECT
    (SELECT any_value(bounds) FROM h) AS bounds,
    (SELECT list(n ORDER BY i) FROM merged) AS counts,
    (SELECT max(top) FROM h) AS top,
    coalesce((SELECT sum(n) FROM merged), 0) AS evidence;
