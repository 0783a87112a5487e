-- liveobs metrics carry their release and route, and their exemplars name trace and span ids of stored spans of the same release (worst of the three shares).
-- Release: the service's liveobs histogram points in the environment and window that carry service.version.
-- Route: the budget's routed_metrics (per request and per event), except answers given before routing
-- (unrouted_statuses: not found, method not allowed, body too large). Exemplars: every liveobs histogram of the release.
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
), versioned AS (
    SELECT count(*) AS n, count(*) FILTER (WHERE nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL) AS ok
    FROM otel_metrics_histogram
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
      AND TimeUnix >= $since AND TimeUnix < $until AND starts_with(MetricName, 'liveobs.')
), counts AS (
    SELECT (SELECT count(*) FROM points WHERE routable) AS points,
           (SELECT count(*) FROM points WHERE routable AND nullif(route, '') IS NOT NULL) AS routed,
           (SELECT count(*) FROM exemplars) AS exemplars,
           (SELECT n FROM resolved) AS resolved,
           (SELECT n FROM versioned) AS all_points,
           (SELECT ok FROM versioned) AS versioned
)
SELECT CASE WHEN points > 0 AND exemplars > 0 THEN least(routed / points, resolved / exemplars, versioned / all_points) END
           AS observed,
       exemplars AS evidence,
       format('{} of {} metric points of the service carry {}; {} of {} carry {}; {} of {} exemplars resolve to a stored span of this release',
              versioned, all_points, $SERVICE_VERSION, routed, points, $HTTP_ROUTE, resolved, exemplars) AS detail
FROM counts;
