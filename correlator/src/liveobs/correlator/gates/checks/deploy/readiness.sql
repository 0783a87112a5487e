-- /readyz and /live/readiness.json answered pass (the latest answer of each counts).
WITH answers AS (
    SELECT Attributes[$READINESS_ENDPOINT] AS endpoint, Attributes[$READINESS_STATUS] AS status, EventTime
    FROM lo_span_events
    WHERE EventName = $READINESS_EVENT
), latest AS (
    SELECT endpoint, arg_max(status, EventTime) AS status FROM answers
    WHERE endpoint IN ($HEALTH_READYZ_PATH, $HEALTH_READINESS_PATH)
    GROUP BY endpoint
)
SELECT count(*) FILTER (WHERE status IS DISTINCT FROM 'pass') AS observed,
       count(*) AS evidence,
       format('latest answers: {}', coalesce(array_to_string(list(endpoint || ' ' || coalesce(status, '?') ORDER BY endpoint), ', '), 'none')) AS detail
FROM latest;
