-- Rate limiting seen to act: requests refused for rate, and no burst the limiter should stop let through.
WITH decisions AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_EXPECTED] AS expected
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_RATE_LIMIT
)
SELECT count(*) FILTER (WHERE expected IN ($OUTCOME_REFUSED, $OUTCOME_DENIED) AND outcome IN ($OUTCOME_ACCEPTED, $OUTCOME_ALLOWED)) AS observed,
       count(*) FILTER (WHERE outcome IN ($OUTCOME_REFUSED, $OUTCOME_DENIED)) AS evidence,
       format('{} requests refused for rate, {} bursts let through',
              count(*) FILTER (WHERE outcome IN ($OUTCOME_REFUSED, $OUTCOME_DENIED)),
              count(*) FILTER (WHERE expected IN ($OUTCOME_REFUSED, $OUTCOME_DENIED) AND outcome IN ($OUTCOME_ACCEPTED, $OUTCOME_ALLOWED))) AS detail
FROM decisions;
