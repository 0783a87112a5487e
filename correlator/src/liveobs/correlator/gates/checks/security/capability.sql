-- Capability denials recorded, and no capability allowed that the caller was not granted (or whose denial was due).
WITH decisions AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_EXPECTED] AS expected,
           coalesce(Attributes[$CAPABILITY_NAME], '?') AS capability,
           CASE WHEN Attributes[$CAPABILITY_GRANTED] IS NOT NULL
                THEN list_transform(string_split(Attributes[$CAPABILITY_GRANTED], ','), lambda s: trim(s)) END AS granted
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_CAPABILITY
), judged AS (
    SELECT capability, outcome = $OUTCOME_DENIED AS denied,
           outcome = $OUTCOME_ALLOWED AND (expected = $OUTCOME_DENIED
               OR (granted IS NOT NULL AND NOT list_contains(granted, capability))) AS wrongly_allowed
    FROM decisions
)
SELECT count(*) FILTER (WHERE wrongly_allowed) AS observed,
       count(*) FILTER (WHERE denied) AS evidence,
       format('{} capability denials, {} allowed without the grant{}', count(*) FILTER (WHERE denied),
              count(*) FILTER (WHERE wrongly_allowed),
              coalesce(' (' || array_to_string(list_slice(list(DISTINCT capability ORDER BY capability) FILTER (WHERE wrongly_allowed), 1, 3), ', ') || ')', '')) AS detail
FROM judged;
