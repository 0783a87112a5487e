-- The release manifest names this release and a rollback target that served real traffic before it.
WITH served AS (
    SELECT ResourceAttributes[$SERVICE_VERSION] AS release, min("Timestamp") AS first_seen, count(*) AS spans
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND NOT list_contains($fixture_environments, lower(coalesce(ResourceAttributes[$DEPLOYMENT_ENVIRONMENT], '')))
      AND SpanKind = 'Server'
      AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
      AND ResourceAttributes[$SERVICE_VERSION] IN ($manifest_current, $manifest_rollback)
    GROUP BY 1
), facts AS (
    SELECT
        (SELECT spans FROM served WHERE release = $manifest_current) AS current_spans,
        (SELECT first_seen FROM served WHERE release = $manifest_current) AS current_first,
        (SELECT spans FROM served WHERE release = $manifest_rollback) AS rollback_spans,
        (SELECT first_seen FROM served WHERE release = $manifest_rollback) AS rollback_first
), problems AS (
    SELECT list_filter([
        CASE WHEN $manifest_current IS DISTINCT FROM $release
             THEN format('manifest names {} as current, the evidence is for {}', $manifest_current, $release) END,
        CASE WHEN $manifest_rollback = $manifest_current THEN 'rollback target is the current release' END,
        CASE WHEN rollback_spans IS NULL
             THEN format('rollback target {} never served traffic in the evidence', $manifest_rollback) END,
        CASE WHEN rollback_first >= current_first
             THEN format('rollback target {} is not older than {}', $manifest_rollback, $manifest_current) END
    ], lambda p: p IS NOT NULL) AS found, coalesce(current_spans, 0) AS evidence, rollback_spans
    FROM facts
)
SELECT CASE WHEN $manifest_current IS NOT NULL THEN len(found) END AS observed,
       evidence,
       CASE WHEN $manifest_current IS NULL THEN 'no release manifest given (--manifest)'
            WHEN len(found) > 0 THEN array_to_string(found, '; ')
            ELSE format('rollback target {} served {} requests before {}', $manifest_rollback, rollback_spans, $manifest_current)
       END AS detail
FROM problems;
