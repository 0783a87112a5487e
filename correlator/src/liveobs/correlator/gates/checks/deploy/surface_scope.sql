-- Scope gate: each scope and capability the judged release adds has a recorded denial (a liveobs.security scope or capability decision denied) in its evidence.
WITH rec AS (
    SELECT m.ServiceName, m.Version, m.RollbackVersion FROM liveobs_release_manifests m
    WHERE ($service IS NULL OR m.ServiceName = $service) AND m.Version = $release
      AND EXISTS (SELECT 1 FROM liveobs_release_manifests r WHERE r.ServiceName = m.ServiceName AND r.Version = m.RollbackVersion)
), added AS (
    SELECT c.Kind, c.Name
    FROM liveobs_release_changes c JOIN rec USING (ServiceName, Version)
    WHERE c.Kind IN ('scope', 'capability') AND c.Change = 'added'
), denials AS (
    SELECT Attributes[$SECURITY_CHECK] AS check_id, Attributes[$CAPABILITY_NAME] AS capability,
           list_transform(string_split(coalesce(Attributes[$SCOPE_REQUIRED], ''), ','), lambda s: trim(s)) AS scopes
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_OUTCOME] = $OUTCOME_DENIED
      AND Attributes[$SECURITY_CHECK] IN ($CHECK_SCOPE, $CHECK_CAPABILITY)
), judged AS (
    SELECT a.Kind, a.Name, count(d.check_id) AS denied
    FROM added a LEFT JOIN denials d
      ON (a.Kind = 'scope' AND d.check_id = $CHECK_SCOPE AND list_contains(d.scopes, a.Name))
      OR (a.Kind = 'capability' AND d.check_id = $CHECK_CAPABILITY AND d.capability = a.Name)
    GROUP BY ALL
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 THEN count(*) FILTER (WHERE denied = 0) END AS observed,
       count(*) FILTER (WHERE denied > 0) AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} and its rollback target are not both recorded: run liveobs release record ROOT --version V for each', $release)
            WHEN count(*) FILTER (WHERE denied = 0) > 0
            THEN 'no recorded denial for new ' || array_to_string(list(Kind || ' ' || Name ORDER BY Kind, Name) FILTER (WHERE denied = 0), ', ')
            ELSE format('{} new scopes and capabilities, each denied: {}', count(*),
                        coalesce(array_to_string(list(Kind || ' ' || Name || ' ' || denied ORDER BY Kind, Name), ', '), 'none'))
       END AS detail,
       (SELECT count(*) FROM rec) = 0 OR count(*) > 0 AS applicable
FROM judged;
