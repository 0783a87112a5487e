-- Capability denials recorded, and no capability granted where a denial was due.
WITH decisions AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_EXPECTED] AS expected,
           coalesce(Attributes[$CAPABILITY_NAME], '?') AS capability
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_CAPABILITY
)
SELECT count(*) FILTER (WHERE expected = $OUTCOME_DENIED AND outcome = $OUTCOME_ALLOWED) AS observed,
       count(*) FILTER (WHERE outcome = $OUTCOME_DENIED) AS evidence,
       format('{} capability denials, {} wrongly allowed{}', count(*) FILTER (WHERE outcome = $OUTCOME_DENIED),
              count(*) FILTER (WHERE expected = $OUTCOME_DENIED AND outcome = $OUTCOME_ALLOWED),
              coalesce(' (' || array_to_string(list_slice(list(DISTINCT capability) FILTER (
                  WHERE expected = $OUTCOME_DENIED AND outcome = $OUTCOME_ALLOWED), 1, 3), ', ') || ')', '')) AS detail
FROM decisions;
