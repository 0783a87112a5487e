-- The client asset is loaded with a Subresource Integrity hash (sha256, sha384 or sha512).
WITH sri AS (
    SELECT Attributes[$SECURITY_OUTCOME] = $OUTCOME_PRESENT
               AND lower(coalesce(Attributes[$SRI_ALGORITHM], '')) IN ('sha256', 'sha384', 'sha512') AS ok
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_SRI
)
SELECT count(*) FILTER (WHERE NOT ok) AS observed,
       count(*) AS evidence,
       format('{} of {} pages loaded the client asset without an integrity hash', count(*) FILTER (WHERE NOT ok), count(*)) AS detail
FROM sri;
