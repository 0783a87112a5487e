-- Error replies sent to the browser that exposed a message or a stack (only class and code may go).
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
    format('{} of {} error replies carried a message or stack{}', count(*) FILTER (WHERE exposed), count(*),
           coalesce(' (routes: ' || array_to_string(list_slice(list(DISTINCT route) FILTER (WHERE exposed), 1, 3), ', ') || ')', '')) AS detail
FROM judged;
