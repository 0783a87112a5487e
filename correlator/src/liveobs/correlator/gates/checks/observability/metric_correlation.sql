-- liveobs metrics carry their route, and their exemplars name trace and span ids of stored spans of the same release (worst of the two shares).
-- The release is bound by the scope (service.version on every point read). The metrics asked for a route
-- are the budget's routed_metrics (per request and per event), except answers given before routing
-- (unrouted_statuses: not found, method not allowed, body too large); exemplars are checked on every liveobs histogram.
WITH points AS (
    SELECT MetricName, Attributes[$HTTP_ROUTE] AS route, Exemplars,
           list_contains($routed_metrics, MetricName)
               AND NOT coalesce(list_contains($unrouted_statuses, TRY_CAST(Attributes[$HTTP_RESPONSE_STATUS_CODE] AS INTEGER)), false)
               AS routable
    FROM lo_histograms
    WHERE starts_with(MetricName, 'liveobs.')
), exemplars AS (
    SELECT unnest(Exemplars.TraceId) AS TraceId, unnest(Exemplars.SpanId) AS SpanId FROM points WHERE Exemplars IS NOT NULL
), resolved AS (
    SELECT count(*) AS n FROM exemplars AS x SEMI JOIN lo_spans AS s ON s.TraceId = x.TraceId AND s.SpanId = x.SpanId
), counts AS (
    SELECT (SELECT count(*) FROM points WHERE routable) AS points,
           (SELECT count(*) FROM points WHERE routable AND nullif(route, '') IS NOT NULL) AS routed,
           (SELECT count(*) FROM exemplars) AS exemplars,
           (SELECT n FROM resolved) AS resolved
)
SELECT CASE WHEN points > 0 AND exemplars > 0 THEN least(routed / points, resolved / exemplars) END AS observed,
       exemplars AS evidence,
       format('{} of {} metric points carry {}; {} of {} exemplars resolve to a stored span of this release',
              routed, points, $HTTP_ROUTE, resolved, exemplars) AS detail
FROM counts;
