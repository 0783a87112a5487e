-- Share of the service's spans and log records in the window that carry service.version.
WITH rows AS (
    SELECT nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL AS versioned
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
    UNION ALL
    SELECT nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL
    FROM otel_logs
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
)
SELECT CASE WHEN count(*) > 0 THEN count(*) FILTER (WHERE versioned) / count(*) END AS observed,
       count(*) AS evidence,
       format('{} of {} spans and log records lack {}', count(*) FILTER (WHERE NOT versioned), count(*), $SERVICE_VERSION) AS detail
FROM rows;
