-- Every process that served the judged release reported the recorded artifact digest, from source "release" (started from the release directory, not a source checkout), and named its unit.
WITH rec AS (
    SELECT Digest FROM liveobs_release_manifests
    WHERE ($service IS NULL OR ServiceName = $service) AND Version = $release
), processes AS (
    SELECT ResourceAttributes[$RELEASE_DIGEST] AS digest, ResourceAttributes[$RELEASE_SOURCE] AS source,
           ResourceAttributes[$RELEASE_UNIT] AS unit, ResourceAttributes[$RELEASE_DIR] AS dir, count(*) AS spans
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $release
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
      AND "Timestamp" >= $span_from AND "Timestamp" < $span_to
      AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
    GROUP BY ALL
), judged AS (
    SELECT *, CASE
        WHEN source IS DISTINCT FROM $RELEASE_SOURCE_RELEASE
            THEN format('{} spans from source {} ({})', spans, coalesce(source, 'unreported'), coalesce(dir, 'no release directory'))
        WHEN digest IS DISTINCT FROM (SELECT any_value(Digest) FROM rec)
            THEN format('{} spans from artifact {}, the release''s is {}', spans, coalesce(digest, 'unreported'),
                        coalesce((SELECT any_value(Digest) FROM rec), 'unknown'))
        WHEN unit IS NULL THEN format('{} spans from {} without a unit name', spans, coalesce(dir, '?'))
    END AS problem
    FROM processes
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 THEN count(problem) END AS observed,
       coalesce(sum(spans), 0) AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} is not recorded: run liveobs release record ROOT --version {}', $release, $release)
            WHEN count(*) = 0 THEN format('no spans of release {} in the window: its processes reported nothing yet', $release)
            WHEN count(problem) > 0 THEN array_to_string(list(problem ORDER BY spans DESC), '; ')
            ELSE format('{} spans from units {} running {}', sum(spans), string_agg(DISTINCT unit, ', ' ORDER BY unit),
                        (SELECT any_value(Digest) FROM rec))
       END AS detail
FROM judged;
