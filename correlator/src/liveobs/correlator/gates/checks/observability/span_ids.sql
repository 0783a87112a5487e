-- Share of server spans carrying each required id, by kind and route (worst share shown).
-- A request that never reached a route (unmatched: 404/405, or refused by a guard before
-- routing: a refused security event) cannot carry a route id; it still needs the others.
WITH http AS (
    SELECT coalesce(HttpRoute, RouteId, '(no route)') AS route, SessionId, RequestId, RouteId,
           coalesce(nullif(HttpRoute, ''), nullif(RouteId, '')) IS NULL AND (
               HttpStatus IN (404, 405)
               OR coalesce(list_contains(list_transform(Events.Attributes, lambda a: a[$SECURITY_OUTCOME]),
                                         $OUTCOME_REFUSED), false)
           ) AS unrouted
    FROM lo_spans
    WHERE SpanKind = 'Server' AND HttpMethod IS NOT NULL AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
), live AS (
    SELECT coalesce(RouteId, HttpRoute, '(no route)') AS route, SessionId, EventId, RouteId, ConnectionId
    FROM lo_spans
    WHERE LiveEventName IS NOT NULL AND ScopeName IS DISTINCT FROM $PROBE_SCOPE
), shares AS (
    SELECT 'HTTP' AS kind, route, $REQUEST_ID AS id_key, count(nullif(RequestId, '')) AS carried, count(*) AS n FROM http GROUP BY route
    UNION ALL SELECT 'HTTP', route, $SESSION_ID, count(nullif(SessionId, '')), count(*) FROM http GROUP BY route
    UNION ALL SELECT 'HTTP', route, $ROUTE_ID, count(nullif(RouteId, '')), count(*) FROM http WHERE NOT unrouted GROUP BY route
    UNION ALL SELECT 'live event', route, $EVENT_ID, count(nullif(EventId, '')), count(*) FROM live GROUP BY route
    UNION ALL SELECT 'live event', route, $SESSION_ID, count(nullif(SessionId, '')), count(*) FROM live GROUP BY route
    UNION ALL SELECT 'live event', route, $ROUTE_ID, count(nullif(RouteId, '')), count(*) FROM live GROUP BY route
    UNION ALL SELECT 'live event', route, $CONNECTION_ID, count(nullif(ConnectionId, '')), count(*) FROM live GROUP BY route
)
SELECT
    min(carried / n) AS observed,
    (SELECT count(*) FROM http) + (SELECT count(*) FROM live) AS evidence,
    -- The worst share; of equal shares (every route at 100%), the first route and id by name, so runs agree.
    arg_min(format('{} on {:.1f}% of {} {} spans of route {}', id_key, 100 * carried / n, n, kind, route), (carried / n, route, kind, id_key)) AS detail
FROM shares;
