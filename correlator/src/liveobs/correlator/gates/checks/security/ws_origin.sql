-- WebSocket origin check: at least one foreign origin refused, and none accepted.
WITH attempts AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_EXPECTED] AS expected,
           left(coalesce(Attributes[$SECURITY_VALUE], '?'), 80) AS value
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_WS_ORIGIN
)
SELECT
    count(*) FILTER (WHERE expected = $OUTCOME_REFUSED AND outcome = $OUTCOME_ACCEPTED) AS observed,
    count(*) FILTER (WHERE outcome = $OUTCOME_REFUSED) AS evidence,
    format('{} foreign origin(s) refused, {} accepted{}',
           count(*) FILTER (WHERE outcome = $OUTCOME_REFUSED),
           count(*) FILTER (WHERE expected = $OUTCOME_REFUSED AND outcome = $OUTCOME_ACCEPTED),
           coalesce(': ' || array_to_string(list_slice(list(DISTINCT value) FILTER (
               WHERE expected = $OUTCOME_REFUSED AND outcome = $OUTCOME_ACCEPTED), 1, 3), ', '), '')) AS detail
FROM attempts;
