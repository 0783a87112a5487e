-- The rollback target is another artifact (its own digest, its release directory still there, the release reversible) that served production (an allowed environment, the subject's own) before the judged release, for min_served_minutes and min_requests, from its release directory (never a checkout relabelled), not counting probe or driven traffic. The release's recorded facts name it when no manifest is given.
WITH rec AS (
    SELECT * FROM liveobs_release_manifests
    WHERE ($service IS NULL OR ServiceName = $service) AND Version = coalesce($manifest_current, $release)
), names AS (
    SELECT coalesce($manifest_current, (SELECT any_value(Version) FROM rec)) AS cur,
           coalesce($manifest_rollback, (SELECT any_value(RollbackVersion) FROM rec)) AS rb,
           (SELECT count(*) FROM rec) > 0 AS recorded
), served AS (
    SELECT ResourceAttributes[$SERVICE_VERSION] AS release, min("Timestamp") AS first_seen, max("Timestamp") AS last_seen,
           count(*) AS spans,
           list(DISTINCT coalesce(ResourceAttributes[$RELEASE_SOURCE], 'unreported')) AS sources,
           list(DISTINCT ResourceAttributes[$RELEASE_DIGEST]) FILTER (WHERE ResourceAttributes[$RELEASE_DIGEST] IS NOT NULL) AS digests
    FROM otel_traces, names
    WHERE ($service IS NULL OR ServiceName = $service)
      AND list_contains($production_environments, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT])
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
      AND SpanKind = 'Server'
      AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
      AND ResourceAttributes[$EVIDENCE_SOURCE] IS NULL AND SpanAttributes[$EVIDENCE_SOURCE] IS NULL
      AND ResourceAttributes[$SERVICE_VERSION] IN (names.cur, names.rb)
    GROUP BY 1
), facts AS (
    SELECT names.*,
        (SELECT first_seen FROM served WHERE release = names.cur) AS current_first,
        (SELECT spans FROM served WHERE release = names.rb) AS rollback_spans,
        (SELECT first_seen FROM served WHERE release = names.rb) AS rollback_first,
        (SELECT epoch(last_seen) - epoch(first_seen) FROM served WHERE release = names.rb) / 60 AS rollback_minutes,
        (SELECT sources FROM served WHERE release = names.rb) AS rollback_sources,
        (SELECT digests FROM served WHERE release = names.rb) AS rollback_digests,
        (SELECT any_value(Digest) FROM rec) AS digest,
        (SELECT any_value(RollbackDigest) FROM rec) AS rollback_digest,
        (SELECT any_value(RollbackDirectory) FROM rec) AS rollback_directory,
        (SELECT any_value(Reversible) FROM rec) AS reversible
    FROM names
), problems AS (
    SELECT list_filter([
        CASE WHEN cur IS DISTINCT FROM $release
             THEN format('manifest names {} as current, the evidence is for {}', cur, $release) END,
        CASE WHEN rb = cur THEN 'rollback target is the current release' END,
        CASE WHEN recorded AND rollback_directory IS NULL
             THEN format('rollback target {} has no release directory (releases/{})', rb, rb) END,
        CASE WHEN recorded AND rollback_directory IS NOT NULL AND rollback_digest IS NULL
             THEN format('rollback target {} has no artifact in {}', rb, rollback_directory) END,
        CASE WHEN recorded AND rollback_digest = digest
             THEN format('rollback target {} is the same artifact as {} ({}): a relabelled release, not a previous one',
                         rb, cur, digest) END,
        CASE WHEN recorded AND NOT reversible
             THEN format('release {} declares its migrations irreversible: rolling back to {} is not possible', cur, rb) END,
        CASE WHEN list_has_any(rollback_sources, [$RELEASE_SOURCE_CHECKOUT, $RELEASE_SOURCE_UNKNOWN])
                  OR (recorded AND list_contains(rollback_sources, 'unreported'))
             THEN format('rollback target {} served from source {}, not from a release directory (a relabelled checkout?)',
                         rb, array_to_string(list_filter(rollback_sources, lambda s: s <> $RELEASE_SOURCE_RELEASE), ', ')) END,
        CASE WHEN recorded AND len(rollback_digests) > 0 AND NOT list_has_all([rollback_digest], rollback_digests)
             THEN format('rollback target {} served artifact {}, its release directory holds {}', rb,
                         array_to_string(rollback_digests, ', '), coalesce(rollback_digest, 'none')) END,
        CASE WHEN rollback_spans IS NULL
             THEN format('rollback target {} never served requests in {}', rb,
                         array_to_string($production_environments, ' or ')) END,
        CASE WHEN rollback_spans < $min_requests
             THEN format('rollback target {} served {} requests, need {}', rb, rollback_spans, $min_requests) END,
        CASE WHEN rollback_minutes < $min_served_minutes
             THEN format('rollback target {} served for {:.1f} minutes, need {}', rb, rollback_minutes,
                         $min_served_minutes) END,
        CASE WHEN rollback_first >= current_first
             THEN format('rollback target {} is not older than {}', rb, cur) END
    ], lambda p: p IS NOT NULL) AS found, *
    FROM facts
)
SELECT CASE WHEN cur IS NOT NULL THEN len(found) END AS observed,
       CASE WHEN cur IS NOT NULL THEN 1 ELSE 0 END AS evidence,
       CASE WHEN cur IS NULL THEN 'no release manifest given (--manifest) and the release is not recorded (liveobs release record)'
            WHEN len(found) > 0 THEN array_to_string(found, '; ')
            ELSE format('rollback target {}{} served {} requests over {:.0f} minutes in {} before {}', rb,
                        CASE WHEN recorded THEN ' (' || rollback_digest || ', ' || rollback_directory || ')' ELSE '' END,
                        rollback_spans, rollback_minutes, array_to_string($production_environments, ' or '), cur)
       END AS detail
FROM problems;
