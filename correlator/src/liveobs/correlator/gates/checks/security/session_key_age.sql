-- Age in days of the oldest session-secret key in use.
WITH keys AS (
    SELECT TRY_CAST(Attributes[$KEY_AGE_SECONDS] AS DOUBLE) AS age, coalesce(Attributes[$KEY_ID], '?') AS key_id
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_SESSION_KEY
)
SELECT max(age) / 86400 AS observed,
       count(age) AS evidence,
       format('oldest session key {} is {:.1f} days old', arg_max(key_id, age), coalesce(max(age), 0) / 86400) AS detail
FROM keys;
