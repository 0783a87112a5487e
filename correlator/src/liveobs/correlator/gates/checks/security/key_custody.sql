-- Keys loaded from an allowed source (never a literal in code or config).
WITH keys AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, lower(coalesce(Attributes[$KEY_SOURCE_KIND], 'unknown')) AS source,
           coalesce(Attributes[$KEY_ID], '?') AS key_id
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_KEY_CUSTODY
), judged AS (
    SELECT key_id, source, outcome = $OUTCOME_MISSING OR NOT list_contains($allowed_sources, source) AS bad FROM keys
)
SELECT count(*) FILTER (WHERE bad) AS observed,
       count(*) AS evidence,
       format('{} of {} key loads from a disallowed source{}', count(*) FILTER (WHERE bad), count(*),
              coalesce(': ' || array_to_string(list_slice(list(DISTINCT key_id || ' from ' || source) FILTER (WHERE bad), 1, 3), ', '), '')) AS detail
FROM judged;
