-- Pages that load a cross-origin resource or the client asset carry a valid SRI digest that matches the asset as served; pages that load neither are not applicable.
-- Distinct (page origin, subresources, assets as served) are judged once by the shared parser.
WITH pages AS (
    SELECT coalesce(Attributes[$PAGE_ORIGIN], '') AS origin, coalesce(Attributes[$SRI_RESOURCES], '[]') AS resources,
           coalesce(Attributes[$SRI_SERVED], '[]') AS served
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_SRI
      AND Attributes[$SRI_RESOURCES] IS NOT NULL
)
SELECT 'sri' AS judge,
       (SELECT list({'origin': origin, 'resources': resources, 'served': served, 'pages': n})
        FROM (SELECT origin, resources, served, count(*) AS n FROM pages GROUP BY ALL)) AS items;
