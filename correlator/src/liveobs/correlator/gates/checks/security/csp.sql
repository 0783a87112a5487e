-- CSP of every HTML response as sent, graded per directive (wildcards, schemes, unsafe-eval, unsafe-inline without nonce or hash, object-src, base-uri, frame-ancestors) and no nonce served twice.
-- Distinct policies (nonces masked) are graded once by the shared parser; nonces are compared as sent.
WITH csp AS (
    SELECT row_number() OVER () AS response, ScopeName = $PROBE_SCOPE AS probed, coalesce(HttpRoute, RouteId, '(no route)') AS route,
           Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$CSP_POLICY] AS policy
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_CSP
), judged AS (
    SELECT route, CASE WHEN outcome = $OUTCOME_PRESENT
                       THEN regexp_replace(policy, '''nonce-[^'']*''', '''nonce-*''', 'g') ELSE '' END AS graded
    FROM csp
    WHERE outcome IS DISTINCT FROM $OUTCOME_PRESENT OR policy IS NOT NULL
), nonces AS (
    -- Within one recorder: the app's SDK and the probe both record a response the probe fetched.
    SELECT nonce, probed, count(DISTINCT response) AS responses
    FROM (SELECT response, probed, unnest(regexp_extract_all(policy, '''nonce-([^'']+)''', 1)) AS nonce
          FROM csp WHERE policy IS NOT NULL)
    GROUP BY nonce, probed
    HAVING count(DISTINCT response) > 1
)
SELECT 'csp' AS judge,
       (SELECT list({'policy': graded, 'responses': n, 'routes': routes})
        FROM (SELECT graded, count(*) AS n, list_slice(list(DISTINCT route ORDER BY route), 1, 3) AS routes FROM judged GROUP BY graded)) AS items,
       (SELECT count(*) FROM nonces) AS reused_nonces,
       (SELECT count(*) FROM csp WHERE outcome = $OUTCOME_PRESENT AND policy IS NULL) AS unreadable;
