-- Auth gate: every route the judged release adds, or whose auth changed, that is not public was asked without a session and denied (401, 403 or a redirect), and never answered 2xx without one.
WITH rec AS (
    SELECT m.ServiceName, m.Version, m.RollbackVersion FROM liveobs_release_manifests m
    WHERE ($service IS NULL OR m.ServiceName = $service) AND m.Version = $release
      AND EXISTS (SELECT 1 FROM liveobs_release_manifests r WHERE r.ServiceName = m.ServiceName AND r.Version = m.RollbackVersion)
), changed AS (
    SELECT c.Name, c.Method, c.Change, c.Auth
    FROM liveobs_release_changes c JOIN rec USING (ServiceName, Version)
    WHERE c.Kind = 'route' AND c.Change <> 'removed' AND c.Auth <> 'public'
      AND (c.Change = 'added' OR c.Auth IS DISTINCT FROM c.RollbackAuth)
), seen AS (
    SELECT c.Method || ' ' || c.Name AS what, c.Auth,
           count(s.SpanId) FILTER (WHERE s.HttpStatus IN (401, 403) OR s.HttpStatus BETWEEN 300 AND 399) AS denied,
           count(s.SpanId) FILTER (WHERE s.HttpStatus BETWEEN 200 AND 299) AS served
    FROM changed c LEFT JOIN lo_spans s
      ON s.SpanKind = 'Server' AND s.HttpRoute = c.Name AND s.HttpMethod = c.Method AND s.SessionId IS NULL
    GROUP BY ALL
), judged AS (
    SELECT *, CASE
        WHEN served > 0 THEN format('answered {} requests without a session with 2xx', served)
        WHEN denied = 0 THEN 'no request without a session was seen denied'
    END AS problem
    FROM seen
)
SELECT CASE WHEN (SELECT count(*) FROM rec) > 0 THEN count(problem) END AS observed,
       count(*) FILTER (WHERE denied > 0) AS evidence,
       CASE WHEN (SELECT count(*) FROM rec) = 0
            THEN format('release {} and its rollback target are not both recorded: run liveobs release record ROOT --version V for each', $release)
            WHEN count(problem) > 0
            THEN array_to_string(list(what || ' (auth ' || Auth || '): ' || problem ORDER BY what) FILTER (WHERE problem IS NOT NULL), '; ')
            ELSE format('{} new routes denied without a session: {}', count(*),
                        coalesce(array_to_string(list(what || ' ' || denied ORDER BY what), ', '), 'none'))
       END AS detail,
       (SELECT count(*) FROM rec) = 0 OR count(*) > 0 AS applicable
FROM judged;
