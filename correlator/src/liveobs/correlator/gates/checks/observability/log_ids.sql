-- Share of log records written inside a request or live event that carry each required id, by route.
-- A log record owes the session and route ids its own trace had: a record of a request that
-- had no session (a socket refused before sign-in, a client without a cookie) or never reached
-- a route is not asked for them. A record whose trace has no span at all owes every id.
WITH lacking AS (
    SELECT DISTINCT TraceId FROM lo_logs
    WHERE nullif(TraceId, '') IS NOT NULL AND (nullif(SessionId, '') IS NULL OR nullif(RouteId, '') IS NULL)
), trace_ids AS (
    SELECT TraceId,
           bool_or(nullif(SessionId, '') IS NOT NULL) AS had_session,
           bool_or(coalesce(nullif(RouteId, ''), nullif(HttpRoute, '')) IS NOT NULL) AS had_route
    FROM lo_spans SEMI JOIN lacking USING (TraceId)
    GROUP BY TraceId
), logs AS (
    SELECT coalesce(l.RouteId, l.HttpRoute, '(no route)') AS route, l.SessionId, l.RouteId,
           coalesce(nullif(l.RequestId, ''), nullif(l.EventId, '')) AS RequestOrEvent,
           coalesce(t.had_session, true) AS owes_session,
           coalesce(t.had_route, true) AS owes_route
    FROM lo_logs AS l LEFT JOIN trace_ids AS t USING (TraceId)
    WHERE nullif(l.TraceId, '') IS NOT NULL AND l.ScopeName IS DISTINCT FROM $PROBE_SCOPE
), shares AS (
    SELECT route, $SESSION_ID AS id_key, count(nullif(SessionId, '')) AS carried, count(*) AS n FROM logs WHERE owes_session GROUP BY route
    UNION ALL SELECT route, $ROUTE_ID, count(nullif(RouteId, '')), count(*) FROM logs WHERE owes_route GROUP BY route
    UNION ALL SELECT route, $REQUEST_ID || ' or ' || $EVENT_ID, count(RequestOrEvent), count(*) FROM logs GROUP BY route
)
SELECT
    min(carried / n) AS observed,
    (SELECT count(*) FROM logs) AS evidence,
    -- The worst share; of equal shares (every route at 100%), the first route and id by name, so runs agree.
    arg_min(format('{} on {:.1f}% of {} log records of route {}', id_key, 100 * carried / n, n, route), (carried / n, route, id_key)) AS detail
FROM shares;
