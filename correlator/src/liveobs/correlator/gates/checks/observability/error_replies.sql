-- Error replies sent to the browser that exposed a message or a stack (only class and code may go; not applicable without error replies).
WITH replies AS (
    SELECT coalesce(RouteId, HttpRoute, '(no route)') AS route,
           list_transform(string_split(lower(ErrorReplyFields), ','), lambda f: trim(f)) AS fields
    FROM lo_spans
    WHERE ErrorReplyFields IS NOT NULL
), judged AS (
    SELECT route, len(list_intersect(fields, $exposing_fields)) > 0 AS exposed FROM replies
)
SELECT
    count(*) FILTER (WHERE exposed) AS observed,
    count(*) AS evidence,
    count(*) > 0 OR (SELECT count(*) FROM lo_spans) = 0 AS applicable,
    CASE WHEN count(*) = 0 THEN format('no error replies in {} spans', (SELECT count(*) FROM lo_spans))
         ELSE format('{} of {} error replies carried a message or stack{}', count(*) FILTER (WHERE exposed), count(*),
           coalesce(' (routes: ' || array_to_string(list_slice(list(DISTINCT route ORDER BY route) FILTER (WHERE exposed), 1, 3), ', ') || ')', ''))
    END AS detail
FROM judged;
