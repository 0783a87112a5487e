-- Share of server errors (error status or an exception event) carrying an error class and fingerprint (not applicable without errors).
WITH errors AS (
    SELECT SpanId, ErrorType, Fingerprint, coalesce(HttpRoute, RouteId, '(no route)') AS route
    FROM lo_spans
    WHERE ScopeName IS DISTINCT FROM $PROBE_SCOPE
      AND ((StatusCode = 'Error' AND SpanKind = 'Server')
           OR (Events IS NOT NULL AND list_contains(Events."Name", $EXCEPTION_EVENT)))
), judged AS (
    SELECT route, nullif(ErrorType, '') IS NOT NULL AND nullif(Fingerprint, '') IS NOT NULL AS complete FROM errors
)
SELECT
    CASE WHEN count(*) > 0 THEN count(*) FILTER (WHERE complete) / count(*) END AS observed,
    count(*) AS evidence,
    count(*) > 0 OR (SELECT count(*) FROM lo_spans) = 0 AS applicable,
    CASE WHEN count(*) = 0 THEN format('no server errors in {} spans', (SELECT count(*) FROM lo_spans))
         ELSE format('{} of {} errors lack {} or {}{}', count(*) FILTER (WHERE NOT complete), count(*), $ERROR_TYPE,
           $ERROR_FINGERPRINT,
           coalesce(' (routes: ' || array_to_string(list_slice(list(DISTINCT route ORDER BY route) FILTER (WHERE NOT complete), 1, 3), ', ') || ')', ''))
    END AS detail
FROM judged;
