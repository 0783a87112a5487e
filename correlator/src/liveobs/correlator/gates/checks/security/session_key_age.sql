-- Age in days of the oldest session-secret key in use: from the first time the evidence saw the key id in use (any release of the service), or the age its key store reported, whichever is older.
WITH used AS (
    SELECT Attributes[$KEY_ID] AS key_id, TRY_CAST(Attributes[$KEY_AGE_SECONDS] AS DOUBLE) AS reported
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_SESSION_KEY AND Attributes[$KEY_ID] IS NOT NULL
), first_seen AS (
    SELECT a[$KEY_ID] AS key_id, min(t) AS first_time
    FROM (SELECT unnest(Events."Timestamp") AS t, unnest(Events."Name") AS n, unnest(Events.Attributes) AS a
          FROM otel_traces
          WHERE ($service IS NULL OR ServiceName = $service)
            AND "Timestamp" < $span_to
            AND list_contains(Events."Name", $SECURITY_EVENT))
    WHERE n = $SECURITY_EVENT AND a[$SECURITY_CHECK] = $CHECK_SESSION_KEY AND a[$KEY_ID] IN (SELECT key_id FROM used)
    GROUP BY 1
), ages AS (
    SELECT u.key_id, greatest(max(u.reported), epoch(CAST($span_to AS TIMESTAMP) - any_value(f.first_time))) AS age
    FROM used u LEFT JOIN first_seen f USING (key_id)
    GROUP BY u.key_id
)
SELECT max(age) / 86400 AS observed,
       (SELECT count(*) FROM used) AS evidence,
       format('oldest session key {} is {:.1f} days old (first seen in use, or as its key store reported)',
              arg_max(key_id, age), coalesce(max(age), 0) / 86400) AS detail
FROM ages;
