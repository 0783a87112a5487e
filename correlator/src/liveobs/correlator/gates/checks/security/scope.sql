-- Scope denials recorded, and nothing allowed that the caller's scopes did not cover (every scope a decision required).
WITH decisions AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_EXPECTED] AS expected,
           list_filter(list_transform(string_split(coalesce(Attributes[$SCOPE_REQUIRED], ''), ','), lambda s: trim(s)),
                       lambda s: s <> '') AS required_scopes,
           list_transform(string_split(coalesce(Attributes[$SCOPE_GRANTED], ''), ','), lambda s: trim(s)) AS granted,
           coalesce(RouteId, HttpRoute, '(no route)') AS route
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_SCOPE
), judged AS (
    SELECT route, outcome = $OUTCOME_DENIED AS denied,
           outcome = $OUTCOME_ALLOWED AND (expected = $OUTCOME_DENIED
               OR NOT list_has_all(granted, required_scopes)) AS overreach
    FROM decisions
)
SELECT count(*) FILTER (WHERE overreach) AS observed,
       count(*) FILTER (WHERE denied) AS evidence,
       format('{} scope denials, {} grants outside scope{}', count(*) FILTER (WHERE denied), count(*) FILTER (WHERE overreach),
              coalesce(' (routes: ' || array_to_string(list_slice(list(DISTINCT route ORDER BY route) FILTER (WHERE overreach), 1, 3), ', ') || ')', '')) AS detail
FROM judged;
