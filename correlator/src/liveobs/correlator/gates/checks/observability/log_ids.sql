-- Share of log records written inside a request or live event that carry each required id, by route.
WITH logs AS (
    SELECT coalesce(RouteId, HttpRoute, '(no route)') AS route, SessionId, RouteId,
           coalesce(nullif(RequestId, ''), nullif(EventId, '')) AS RequestOrEvent
    FROM lo_logs
    WHERE nullif(TraceId, '') IS NOT NULL AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
), shares AS (
    SELECT route, $SESSION_ID AS id_key, count(nullif(SessionId, '')) AS carried, count(*) AS n FROM logs GROUP BY route
    UNION ALL SELECT route, $ROUTE_ID, count(nullif(RouteId, '')), count(*) FROM logs GROUP BY route
    UNION ALL SELECT route, $REQUEST_ID || ' or ' || $EVENT_ID, count(RequestOrEvent), count(*) FROM logs GROUP BY route
)
SELECT
    min(carried / n) AS observed,
    (SELECT count(*) FROM logs) AS evidence,
    arg_min(format('{} on {:.1f}% of {} log records of route {}', id_key, 100 * carried / n, n, route), carried / n) AS detail
FROM shares;
