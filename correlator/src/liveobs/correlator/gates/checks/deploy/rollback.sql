-- The release manifest names this release and a rollback target that served production (an allowed environment, the subject's own) before it, for min_served_minutes and min_requests, not counting probe or driven traffic.
WITH served AS (
    SELECT ResourceAttributes[$SERVICE_VERSION] AS release, min("Timestamp") AS first_seen, max("Timestamp") AS last_seen,
           count(*) AS spans
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND list_contains($production_environments, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT])
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND SpanKind = 'Server'
      AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
      AND ResourceAttributes[$EVIDENCE_SOURCE] IS NULL AND SpanAttributes[$EVIDENCE_SOURCE] IS NULL
      AND ResourceAttributes[$SERVICE_VERSION] IN ($manifest_current, $manifest_rollback)
    GROUP BY 1
), facts AS (
    SELECT
        (SELECT first_seen FROM served WHERE release = $manifest_current) AS current_first,
        (SELECT spans FROM served WHERE release = $manifest_rollback) AS rollback_spans,
        (SELECT first_seen FROM served WHERE release = $manifest_rollback) AS rollback_first,
        (SELECT epoch(last_seen) - epoch(first_seen) FROM served WHERE release = $manifest_rollback) / 60 AS rollback_minutes
), problems AS (
    SELECT list_filter([
        CASE WHEN $manifest_current IS DISTINCT FROM $release
             THEN format('manifest names {} as current, the evidence is for {}', $manifest_current, $release) END,
        CASE WHEN $manifest_rollback = $manifest_current THEN 'rollback target is the current release' END,
        CASE WHEN rollback_spans IS NULL
             THEN format('rollback target {} never served requests in {}', $manifest_rollback,
                         array_to_string($production_environments, ' or ')) END,
        CASE WHEN rollback_spans < $min_requests
             THEN format('rollback target {} served {} requests, need {}', $manifest_rollback, rollback_spans, $min_requests) END,
        CASE WHEN rollback_minutes < $min_served_minutes
             THEN format('rollback target {} served for {:.1f} minutes, need {}', $manifest_rollback, rollback_minutes,
                         $min_served_minutes) END,
        CASE WHEN rollback_first >= current_first
             THEN format('rollback target {} is not older than {}', $manifest_rollback, $manifest_current) END
    ], lambda p: p IS NOT NULL) AS found, coalesce(rollback_spans, 0) AS evidence, rollback_spans, rollback_minutes
    FROM facts
)
SELECT CASE WHEN $manifest_current IS NOT NULL THEN len(found) END AS observed,
       CASE WHEN $manifest_current IS NOT NULL THEN 1 ELSE 0 END AS evidence,
       CASE WHEN $manifest_current IS NULL THEN 'no release manifest given (--manifest)'
            WHEN len(found) > 0 THEN array_to_string(found, '; ')
            ELSE format('rollback target {} served {} requests over {:.0f} minutes in {} before {}', $manifest_rollback,
                        rollback_spans, rollback_minutes, array_to_string($production_environments, ' or '), $manifest_current)
       END AS detail
FROM problems;
