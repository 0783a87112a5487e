-- CSP on every HTML response: no unsafe-inline/unsafe-eval unless nonce- or hash-based; object-src and base-uri set.
WITH csp AS (
    SELECT coalesce(HttpRoute, RouteId, '(no route)') AS route,
           Attributes[$SECURITY_OUTCOME] AS outcome,
           coalesce(Attributes[$CSP_SOURCE], 'none') AS source,
           coalesce(Attributes[$CSP_UNSAFE_INLINE], 'false') = 'true' AS unsafe_inline,
           coalesce(Attributes[$CSP_UNSAFE_EVAL], 'false') = 'true' AS unsafe_eval,
           list_transform(string_split(lower(coalesce(Attributes[$CSP_DIRECTIVES], '')), ','), lambda d: trim(d)) AS directives
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_CSP
), judged AS (
    SELECT route, CASE
        WHEN outcome IS DISTINCT FROM $OUTCOME_PRESENT THEN 'no CSP header'
        WHEN (unsafe_inline OR unsafe_eval) AND source NOT IN ('nonce', 'hash') THEN 'unsafe-inline or unsafe-eval without nonce or hash'
        WHEN NOT list_contains(directives, 'object-src') THEN 'object-src not set'
        WHEN NOT list_contains(directives, 'base-uri') THEN 'base-uri not set'
    END AS problem
    FROM csp
)
SELECT
    count(problem) AS observed,
    count(*) AS evidence,
    format('{} of {} HTML responses with a weak or missing CSP{}', count(problem), count(*),
           coalesce(': ' || array_to_string(list_slice(list(DISTINCT route || ' ' || problem) FILTER (WHERE problem IS NOT NULL), 1, 3), '; '), '')) AS detail
FROM judged;
