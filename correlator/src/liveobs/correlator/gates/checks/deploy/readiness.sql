-- /readyz and /live/readiness.json answered 200 without a redirect and reported ready, a body named the judged release (version or releaseId) and none another, within max_age_minutes of the release's last evidence.
WITH answers AS (
    SELECT Attributes[$READINESS_ENDPOINT] AS endpoint, Attributes[$READINESS_STATUS] AS status,
           TRY_CAST(Attributes[$READINESS_HTTP_STATUS] AS INTEGER) AS http_status,
           coalesce(TRY_CAST(Attributes[$READINESS_REDIRECTS] AS INTEGER), 0) AS redirects,
           Attributes[$READINESS_VERSION] AS version, Attributes[$READINESS_RELEASE_ID] AS release_id, EventTime
    FROM lo_span_events
    WHERE EventName = $READINESS_EVENT AND Attributes[$READINESS_ENDPOINT] IN ($HEALTH_READYZ_PATH, $HEALTH_READINESS_PATH)
), fresh AS (
    SELECT * FROM answers
    WHERE EventTime >= CAST($span_to AS TIMESTAMP) - to_minutes(CAST($max_age_minutes AS BIGINT))
), latest AS (
    SELECT endpoint, arg_max(struct_pack(status, http_status, redirects, version, release_id), EventTime) AS a
    FROM fresh GROUP BY endpoint
), judged AS (
    SELECT endpoint, CASE
        WHEN a.redirects > 0 THEN format('redirected {} times', a.redirects)
        WHEN a.http_status IS DISTINCT FROM 200 THEN format('answered {}', coalesce(CAST(a.http_status AS VARCHAR), 'nothing'))
        WHEN a.status IS DISTINCT FROM 'pass' THEN format('status {}', coalesce(a.status, 'missing'))
        WHEN coalesce(a.version, a.release_id) IS NOT NULL AND $release NOT IN (coalesce(a.version, ''), coalesce(a.release_id, ''))
            THEN format('body names release {}', coalesce(a.version, a.release_id))
    END AS problem,
    $release IN (coalesce(a.version, ''), coalesce(a.release_id, '')) AS names_release
    FROM latest
)
-- A body that names a release must name this one, and at least one must name it.
SELECT count(problem) + CASE WHEN count(*) > 0 AND NOT bool_or(names_release) THEN 1 ELSE 0 END AS observed,
       count(*) AS evidence,
       format('{} of {} endpoints answered within {} minutes of the release''s last evidence{}{}',
              count(*), 2, $max_age_minutes,
              coalesce(': ' || array_to_string(list(endpoint || ' ' || problem ORDER BY endpoint) FILTER (WHERE problem IS NOT NULL), '; '), '')
              || CASE WHEN count(*) > 0 AND NOT bool_or(names_release) THEN format('; no answer names release {}', $release) ELSE '' END,
              CASE WHEN (SELECT count(*) FROM answers) > (SELECT count(*) FROM fresh)
                   THEN format(' ({} older answers not counted)', (SELECT count(*) FROM answers) - (SELECT count(*) FROM fresh)) ELSE '' END) AS detail
FROM judged;
