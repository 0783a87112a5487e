-- Request bodies over the limit are refused: enforcement seen, and no over-limit body accepted.
WITH bodies AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_EXPECTED] AS expected,
           TRY_CAST(Attributes[$OBSERVED_BYTES] AS BIGINT) AS seen, TRY_CAST(Attributes[$LIMIT_BYTES] AS BIGINT) AS limit_bytes,
           coalesce(HttpRoute, RouteId, '(no route)') AS route
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_BODY_LIMIT
), judged AS (
    SELECT route, outcome = $OUTCOME_REFUSED AS refused,
           outcome = $OUTCOME_ACCEPTED AND (seen > limit_bytes OR expected = $OUTCOME_REFUSED) AS leaked
    FROM bodies
)
SELECT count(*) FILTER (WHERE leaked) AS observed,
       count(*) FILTER (WHERE refused) AS evidence,
       format('{} over-limit bodies refused, {} accepted{}', count(*) FILTER (WHERE refused), count(*) FILTER (WHERE leaked),
              coalesce(' (routes: ' || array_to_string(list_slice(list(DISTINCT route ORDER BY route) FILTER (WHERE leaked), 1, 3), ', ') || ')', '')) AS detail
FROM judged;
