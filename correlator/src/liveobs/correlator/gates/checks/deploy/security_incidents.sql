-- No security-affecting incident of the judged release (a liveobs.security decision in one of its traces, or an error class or route that the manifest's [surface] or the marker words mark) is newer than the last run of the whole security gate that passed for the release.
WITH rec AS (
    SELECT SecurityErrorClasses, SecurityRoutes FROM liveobs_release_manifests
    WHERE ($service IS NULL OR ServiceName = $service) AND Version = $release
), incidents AS (
    SELECT Fingerprint, any_value(ErrorType) AS error_type, split_part(any_value(ErrorType), '.', -1) AS error_class,
           coalesce(list(DISTINCT RouteId) FILTER (WHERE RouteId IS NOT NULL), []) AS routes,
           coalesce(list(DISTINCT TraceId) FILTER (WHERE nullif(TraceId, '') IS NOT NULL), []) AS traces,
           max("Timestamp") AS last_seen, count(*) AS occurrences
    FROM liveobs_errors
    WHERE ($service IS NULL OR ServiceName = $service) AND ServiceVersion = $release
      AND ($environment IS NULL OR Environment = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
    GROUP BY Fingerprint
), secured AS (
    -- The incidents one of whose traces carries a liveobs.security decision: one join on the trace id.
    SELECT DISTINCT x.Fingerprint
    FROM (SELECT Fingerprint, unnest(traces) AS TraceId FROM incidents) AS x
    JOIN otel_traces AS t ON t.TraceId = x.TraceId
    WHERE list_contains(t.Events."Name", $SECURITY_EVENT)
), marked AS (
    SELECT i.*, CASE
        WHEN list_contains(coalesce((SELECT any_value(SecurityErrorClasses) FROM rec), []), error_class)
            THEN 'error class ' || error_class || ' is marked in the manifest'
        WHEN list_has_any(routes, coalesce((SELECT any_value(SecurityRoutes) FROM rec), []))
            THEN 'route ' || array_to_string(list_intersect(routes, (SELECT any_value(SecurityRoutes) FROM rec)), ', ') || ' is marked in the manifest'
        WHEN len(list_filter($security_markers, lambda m: contains(lower(error_class), m)
                             OR len(list_filter(routes, lambda r: contains(lower(r), m))) > 0)) > 0
            THEN 'its error class or route names a security marker'
        WHEN i.Fingerprint IN (SELECT Fingerprint FROM secured)
            THEN 'its traces carry liveobs.security decisions'
    END AS why
    FROM incidents i
), passes AS (
    SELECT max(r.RanAt) AS last_pass
    FROM liveobs_gate_runs r
    WHERE r.Release = $release AND ($service IS NULL OR r.ServiceName = $service)
      AND (r.Selection IN ('security', 'all') OR list_contains(string_split(r.Selection, ','), 'security.*'))
      AND EXISTS (SELECT 1 FROM liveobs_gate_results g WHERE g.RunId = r.RunId AND g.Gate = 'security' AND g.Required)
      AND NOT EXISTS (SELECT 1 FROM liveobs_gate_results g WHERE g.RunId = r.RunId AND g.Gate = 'security'
                      AND g.Required AND g.Status IN ('fail', 'unknown'))
), judged AS (
    SELECT m.*, p.last_pass, p.last_pass IS NULL OR CAST(m.last_seen AS TIMESTAMP) > p.last_pass AS open
    FROM marked m, passes p WHERE m.why IS NOT NULL
)
SELECT count(*) FILTER (WHERE open) AS observed,
       count(*) AS evidence,
       CASE WHEN count(*) = 0 THEN format('no security-affecting incident of {}', $release)
            WHEN count(*) FILTER (WHERE open) > 0
            THEN format('{} security-affecting incidents newer than the last passing security gate ({}): ',
                        count(*) FILTER (WHERE open), coalesce(strftime(any_value(last_pass), '%Y-%m-%d %H:%M:%S UTC'), 'none for this release'))
                 || array_to_string(list(error_type || ' ' || left(Fingerprint, 12) || ' (' || why || ')' ORDER BY last_seen DESC) FILTER (WHERE open), '; ')
            ELSE format('{} security-affecting incidents, all before the security gate passed at {}', count(*),
                        strftime(any_value(last_pass), '%Y-%m-%d %H:%M:%S UTC'))
       END AS detail,
       count(*) > 0 AS applicable
FROM judged;
