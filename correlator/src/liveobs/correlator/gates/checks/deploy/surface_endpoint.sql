-- Endpoint gate: every route and live event the judged release adds or changes against its rollback target had traffic (real or driven) carrying the correlation ids, and none answered 5xx or failed.
WITH rec AS (
    SELECT m.ServiceName, m.Version, m.RollbackVersion FROM liveobs_release_manifests m
    WHERE ($service IS NULL OR m.ServiceName = $service) AND m.Version = $release
      AND EXISTS (SELECT 1 FROM liveobs_release_manifests r WHERE r.ServiceName = m.ServiceName AND r.Version = m.RollbackVersion)
), changed AS (
    SELECT c.Kind, c.Name, c.Method, c.Change
    FROM liveobs_release_changes c JOIN rec USING (ServiceName, Version)
    WHERE c.Kind IN ('route', 'live_event') AND c.Change <> 'removed'
), seen AS (
    SELECT c.Kind, c.Name, c.Method, c.Change,
           count(s.SpanId) AS spans,
           count(s.SpanId) FILTER (WHERE CASE WHEN c.Kind = 'route' THEN s.RequestId IS NULL
                                              ELSE s.EventId IS NULL OR s.SessionId IS NULL END) AS without_ids,
           count(s.SpanId) FILTER (WHERE s.HttpStatus >= 500 OR (c.Kind = 'live_event' AND s.StatusCode = 'Error')) AS failed
    FROM changed c LEFT JOIN lo_spans s
      ON (c.Kind = 'route' AND s.SpanKind = 'Server' AND s.HttpRoute = c.Name AND s.HttpMethod = c.Method)
      OR (c.Kind = 'live_event' AND s.LiveEventName = c.Name)
    GROUP BY ALL
), judged AS (
    SELECT *, CASE WHEN Kind = 'route' THEN Method || ' ' || Name ELSE 'live event ' || Name END AS what, CASE
        WHEN spans = 0 THEN 'no traffic'
        WHEN failed > 0 THEN format('{} of {} failed (5xx or error)', failed, spans)
        WHEN without_ids > 0 THEN format('{} of {} without the correlation ids', without_ids, spans)
    END AS problem
    FROM seen
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 THEN count(problem) END AS observed,
       count(*) FILTER (WHERE spans > 0) AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} and its rollback target are not both recorded: run liveobs release record ROOT --version V for each', $release)
            WHEN count(problem) > 0
            THEN array_to_string(list(what || ' (' || Change || '): ' || problem ORDER BY what) FILTER (WHERE problem IS NOT NULL), '; ')
            ELSE format('{} new or changed routes and live events served: {}', count(*),
                        coalesce(array_to_string(list(what || ' ' || spans ORDER BY what), ', '), 'none'))
       END AS detail,
       (SELECT count(*) FROM rec) = 0 OR count(*) > 0 AS applicable
FROM judged;
