-- The subject's evidence, scoped once per run so that each check reads narrow tables.
-- Parameters: $service, $release, $environment (NULL = any), $since, $until, and the
-- convention keys ($SERVICE_VERSION, ...), bound from liveobs.conventions.
-- $span_from/$span_to and $log_from/$log_to bound the release's first and last span and
-- log record (from the release lookup), so scans skip other releases' row groups.
--
-- Attribute maps are read once per row as key and value lists (k, v): one lookup
-- per key is then a list search, cheaper than a map subscript each time. Every
-- span keeps its ids, trace and event id and the attributes that classify it; the
-- other attributes are read only on the spans a check looks at (HTTP requests,
-- live events, errors, spans with events and error replies), and are NULL on the
-- rest (internal and client child spans).
--
-- With $scan_secrets (set when a chosen check reads them), each row also keeps what
-- the secret scan judges: its attribute keys and values (filtered by the scan after
-- unnesting, cheaper than a lambda per row), its resource and its status message or
-- body, so that scan reads no table a second time.

CREATE OR REPLACE TEMP TABLE lo_spans AS
WITH scoped AS (
    SELECT
        "Timestamp", TraceId, SpanId, ParentSpanId, SpanKind, ScopeName, Duration, StatusCode,
        CASE WHEN len(Events."Name") > 0 THEN Events END AS Events,
        map_keys(SpanAttributes) AS k, map_values(SpanAttributes) AS v,
        $scan_secrets AS scan_secrets,
        CASE WHEN $scan_secrets THEN ResourceAttributes END AS Resource,
        CASE WHEN $scan_secrets THEN nullif(StatusMessage, '') END AS StatusMessage
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $release
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
      AND "Timestamp" >= $since AND "Timestamp" < $until
      AND "Timestamp" >= $span_from AND "Timestamp" < $span_to
), classified AS (
    SELECT *,
        v[list_position(k, $EVENT_ID)] AS EventId,
        v[list_position(k, $EVENT_NAME)] AS LiveEventName,
        v[list_position(k, $HTTP_REQUEST_METHOD)] AS HttpMethod,
        v[list_position(k, $ERROR_REPLY_FIELDS)] AS ErrorReplyFields
    FROM scoped
), marked AS (
    SELECT *,
        LiveEventName IS NOT NULL OR HttpMethod IS NOT NULL OR ErrorReplyFields IS NOT NULL
            OR Events IS NOT NULL OR StatusCode = 'Error' AS principal
    FROM classified
)
SELECT
    "Timestamp", TraceId, SpanId, ParentSpanId, SpanKind, ScopeName, Duration, StatusCode,
    CASE WHEN principal THEN v[list_position(k, $SESSION_ID)] END AS SessionId,
    CASE WHEN principal THEN v[list_position(k, $REQUEST_ID)] END AS RequestId,
    EventId,
    CASE WHEN principal THEN v[list_position(k, $ROUTE_ID)] END AS RouteId,
    CASE WHEN principal THEN v[list_position(k, $HTTP_ROUTE)] END AS HttpRoute,
    CASE WHEN principal THEN v[list_position(k, $CONNECTION_ID)] END AS ConnectionId,
    LiveEventName,
    CASE WHEN principal THEN v[list_position(k, $ERROR_TYPE)] END AS ErrorType,
    CASE WHEN principal THEN v[list_position(k, $ERROR_FINGERPRINT)] END AS Fingerprint,
    HttpMethod,
    ErrorReplyFields,
    CASE WHEN principal THEN TRY_CAST(v[list_position(k, $HTTP_RESPONSE_STATUS_CODE)] AS INTEGER) END AS HttpStatus,
    CASE WHEN principal THEN v[list_position(k, $RECONNECT)] END AS Reconnect,
    CASE WHEN principal THEN v[list_position(k, $CONNECTION_PREVIOUS_ID)] END AS PreviousConnectionId,
    Events,
    CASE WHEN Events IS NOT NULL
         THEN coalesce(len(list_filter(Events.Attributes, lambda a: a[$SECURITY_CHECK] = $CHECK_CSP)) > 0, false)
         ELSE false
    END AS Html,
    CASE WHEN scan_secrets THEN k END AS SecretKeys, CASE WHEN scan_secrets THEN v END AS SecretValues,
    Resource, StatusMessage
FROM marked;

CREATE OR REPLACE TEMP TABLE lo_span_events AS
SELECT
    TraceId, SpanId, SpanKind, ScopeName, RouteId, HttpRoute, StatusCode, HttpStatus,
    unnest(Events."Timestamp") AS EventTime,
    unnest(Events."Name") AS EventName,
    unnest(Events.Attributes) AS Attributes
FROM lo_spans
WHERE Events IS NOT NULL;

CREATE OR REPLACE TEMP TABLE lo_logs AS
WITH scoped AS (
    SELECT
        TraceId, ScopeName, EventName,
        map_keys(LogAttributes) AS k, map_values(LogAttributes) AS v,
        CASE WHEN $scan_secrets THEN k END AS SecretKeys,
        CASE WHEN $scan_secrets THEN v END AS SecretValues,
        CASE WHEN $scan_secrets THEN ResourceAttributes END AS Resource,
        CASE WHEN $scan_secrets THEN nullif(Body, '') END AS Body,
        CASE WHEN $scan_secrets THEN coalesce(nullif(TraceId, ''), CAST("Timestamp" AS VARCHAR)) END AS Origin
    FROM otel_logs
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ResourceAttributes[$SERVICE_VERSION] = $release
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
      AND "Timestamp" >= $since AND "Timestamp" < $until
      AND "Timestamp" >= $log_from AND "Timestamp" < $log_to
)
SELECT
    TraceId, ScopeName, EventName,
    v[list_position(k, $SESSION_ID)] AS SessionId,
    v[list_position(k, $REQUEST_ID)] AS RequestId,
    v[list_position(k, $EVENT_ID)] AS EventId,
    v[list_position(k, $ROUTE_ID)] AS RouteId,
    v[list_position(k, $HTTP_ROUTE)] AS HttpRoute,
    CASE WHEN EventName = $BROWSER_ACTION_EVENT THEN TRY_CAST(v[list_position(k, $BROWSER_LATENCY_MS)] AS DOUBLE) END
        AS BrowserLatencyMs,
    SecretKeys, SecretValues, Resource, Body, Origin
FROM scoped;
CREATE OR REPLACE TEMP TABLE lo_histograms AS
SELECT MetricName, TimeUnix, StartTimeUnix, Attributes, "Count", "Sum", "Min", "Max", BucketCounts, ExplicitBounds,
       AggregationTemporality, CASE WHEN len(Exemplars.TraceId) > 0 THEN Exemplars END AS Exemplars
FROM otel_metrics_histogram
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND TimeUnix >= $since AND TimeUnix < $until;

-- One merged histogram per metric: delta points add up; of a cumulative series
-- (same attributes and start) only its latest point counts, as it already holds the rest.
CREATE OR REPLACE TEMP TABLE lo_histogram_totals AS
WITH points AS (
    SELECT MetricName, ExplicitBounds AS bounds, BucketCounts AS counts, "Max" AS top,
           AggregationTemporality = 2 AND row_number() OVER (
               PARTITION BY MetricName, Attributes, StartTimeUnix, AggregationTemporality ORDER BY TimeUnix DESC) > 1 AS superseded
    FROM lo_histograms
    WHERE "Count" > 0
), buckets AS (
    SELECT MetricName, unnest(generate_series(1, len(counts))) AS i, unnest(counts) AS n
    FROM points WHERE NOT superseded
), merged AS (
    SELECT MetricName, list(n ORDER BY i) AS counts, sum(n) AS evidence
    FROM (SELECT MetricName, i, sum(n) AS n FROM buckets GROUP BY MetricName, i)
    GROUP BY MetricName
)
SELECT m.MetricName, p.bounds, m.counts, p.top, m.evidence
FROM merged AS m
JOIN (SELECT MetricName, any_value(bounds) AS bounds, max(top) AS top FROM points WHERE NOT superseded GROUP BY MetricName)
    AS p USING (MetricName);

CREATE OR REPLACE TEMP TABLE lo_sums AS
SELECT MetricName, TimeUnix, StartTimeUnix, Attributes, ResourceAttributes, "Value", AggregationTemporality
FROM otel_metrics_sum
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND TimeUnix >= $since AND TimeUnix < $until;

CREATE OR REPLACE TEMP TABLE lo_gauges AS
SELECT MetricName, TimeUnix, Attributes, ResourceAttributes, "Value"
FROM otel_metrics_gauge
WHERE ($service IS NULL OR ServiceName = $service)
  AND ResourceAttributes[$SERVICE_VERSION] = $release
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND coalesce(ResourceAttributes[$EVIDENCE_SOURCE], '') <> $EVIDENCE_DRY_RUN
  AND TimeUnix >= $since AND TimeUnix < $until;

-- Counter totals per metric: deltas add up; a cumulative series counts its last value
-- (a series restarts with a new StartTimeUnix).
CREATE OR REPLACE TEMP TABLE lo_counters AS
SELECT MetricName, sum(total) AS Total, count(*) AS Series, min(first_time) AS FirstTime, max(last_time) AS LastTime
FROM (
    SELECT MetricName,
           CASE WHEN any_value(AggregationTemporality) = 1 THEN sum("Value") ELSE max("Value") END AS total,
           min(TimeUnix) AS first_time, max(TimeUnix) AS last_time
    FROM lo_sums
    GROUP BY MetricName, StartTimeUnix, Attributes, ResourceAttributes
)
GROUP BY MetricName;

-- Candidate secrets of the stored evidence, for the secret-scan and key-material checks:
-- Each distinct (place, key, value) is judged once; the id keys the shared rules allow-list are skipped.
-- The scope keeps each record's attribute keys and values (SecretKeys, SecretValues); resources, the
-- same for every record of a process, are grouped before their entries are read.
-- The shared redaction rules then judge each candidate in Python.
CREATE OR REPLACE TEMP TABLE lo_secret_candidates AS
WITH resources AS (
    SELECT 'span resource attribute' AS place, 'span ' || any_value(SpanId) AS origin, Resource, count(*) AS n
    FROM lo_spans GROUP BY Resource
    UNION ALL
    SELECT 'log resource attribute', 'log record ' || any_value(Origin), Resource, count(*) FROM lo_logs GROUP BY Resource
), entries AS (
    SELECT 'span attribute' AS place, SpanId AS origin, unnest(SecretKeys) AS key, unnest(SecretValues) AS value
    FROM lo_spans WHERE len(SecretKeys) > 0
    UNION ALL SELECT place, origin, e.key, e.value FROM (
        SELECT 'span event attribute' AS place, SpanId AS origin,
               unnest(flatten(list_transform(Events.Attributes, lambda m: map_entries(m)))) AS e
        FROM lo_spans WHERE Events IS NOT NULL)
    UNION ALL SELECT 'span status message', SpanId, 'status.message', StatusMessage FROM lo_spans WHERE StatusMessage IS NOT NULL
    UNION ALL SELECT 'log attribute', Origin, unnest(SecretKeys), unnest(SecretValues) FROM lo_logs WHERE len(SecretKeys) > 0
    UNION ALL SELECT 'log body', Origin, 'body', Body FROM lo_logs WHERE Body IS NOT NULL
), distinct_entries AS MATERIALIZED (
    SELECT place, key, value, count(*) AS n,
           CASE WHEN starts_with(place, 'span') THEN 'span ' ELSE 'log record ' END || any_value(origin) AS origin
    FROM entries
    WHERE NOT list_contains($secret_allowed_keys, key) AND nullif(value, '') IS NOT NULL
    GROUP BY place, key, value
    UNION ALL
    SELECT place, e.key, e.value, sum(n), any_value(origin)
    FROM (SELECT place, origin, n, unnest(map_entries(Resource)) AS e FROM resources)
    WHERE NOT list_contains($secret_allowed_keys, e.key) AND nullif(e.value, '') IS NOT NULL
    GROUP BY place, e.key, e.value
), candidates AS MATERIALIZED (
    SELECT * FROM distinct_entries
    WHERE regexp_matches(value, $secret_value_re)
       OR (regexp_matches(key, $secret_key_re) AND NOT starts_with(value, $secret_marker))
       OR len(list_filter(regexp_extract_all(value, '[A-Za-z0-9_+/-]{32,}'),
                          lambda t: regexp_matches(t, '[0-9]') AND regexp_matches(t, '[a-z]') AND regexp_matches(t, '[A-Z]'))) > 0
)
SELECT * FROM candidates;

-- The WebSocket Origin and Host guards' outcomes, one row per check, judged from each handshake's
-- Origin and Host. A refusal of a foreign value (present, and for an Origin not the Host's own)
-- is the evidence. A violation: a deliberate foreign attempt accepted, an Origin accepted that is
-- not the Host's own and not in $allowed_origins, a Host accepted outside $allowed_hosts (when listed).
CREATE OR REPLACE TEMP TABLE lo_ws_guards AS
WITH attempts AS (
    SELECT Attributes[$SECURITY_CHECK] AS check_id, Attributes[$SECURITY_OUTCOME] AS outcome,
           Attributes[$SECURITY_EXPECTED] AS expected, left(coalesce(Attributes[$SECURITY_VALUE], '(none)'), 80) AS value,
           lower(Attributes[$HANDSHAKE_HOST]) AS host
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] IN ($CHECK_WS_ORIGIN, $CHECK_WS_HOST)
), judged AS (
    SELECT check_id, outcome, value,
           value <> '(none)' AND (check_id = $CHECK_WS_HOST OR host IS NULL
               OR lower(value) = 'null' OR coalesce(regexp_extract(lower(value), '^[a-z][a-z0-9+.\-]*://([^/]+)', 1), '') <> host)
               AND NOT list_contains($allowed_origins, lower(rtrim(value, '/'))) AS foreign_value,
           outcome = $OUTCOME_ACCEPTED AND (
               expected = $OUTCOME_REFUSED
               OR (check_id = $CHECK_WS_ORIGIN AND host IS NOT NULL AND value <> '(none)' AND (lower(value) = 'null'
                   OR coalesce(regexp_extract(lower(value), '^[a-z][a-z0-9+.\-]*://([^/]+)', 1), '') <> host)
                   AND NOT list_contains($allowed_origins, lower(rtrim(value, '/'))))
               OR (check_id = $CHECK_WS_HOST AND len($allowed_hosts) > 0
                   AND NOT list_contains($allowed_hosts, lower(value))
                   AND NOT list_contains($allowed_hosts, lower(split_part(value, ':', 1))))
           ) AS violation
    FROM attempts
)
SELECT
    check_id AS CheckId,
    count(*) FILTER (WHERE violation) AS observed,
    count(*) FILTER (WHERE outcome = $OUTCOME_REFUSED AND foreign_value) AS evidence,
    format('{} foreign {}(s) refused, {} accepted{}',
           count(*) FILTER (WHERE outcome = $OUTCOME_REFUSED AND foreign_value),
           replace(check_id, 'ws_', ''),
           count(*) FILTER (WHERE violation),
           coalesce(': ' || array_to_string(list_slice(list(DISTINCT value ORDER BY value) FILTER (WHERE violation), 1, 3), ', '), '')) AS detail
FROM judged
GROUP BY check_id;

-- CPU use per measured interval and process, in cores, every cpu.mode added up: a delta point
-- holds its interval's CPU seconds; a cumulative series grows between consecutive points.
CREATE OR REPLACE TEMP TABLE lo_cpu_intervals AS
WITH points AS (
    SELECT ResourceAttributes AS process, Attributes, StartTimeUnix, TimeUnix, "Value", AggregationTemporality AS t,
           lag("Value") OVER w AS previous_value, lag(TimeUnix) OVER w AS previous_time,
           row_number() OVER (PARTITION BY ResourceAttributes, Attributes ORDER BY TimeUnix) AS nth
    FROM lo_sums WHERE MetricName = $METRIC_PROCESS_CPU
    WINDOW w AS (PARTITION BY ResourceAttributes, Attributes, StartTimeUnix ORDER BY TimeUnix)
), spans AS (
    -- A process's first delta point also holds the CPU spent before its meter started: not an interval.
    SELECT process, TimeUnix,
           CASE WHEN t = 1 AND nth > 1 THEN "Value" WHEN t = 2 THEN "Value" - previous_value END AS cpu_seconds,
           CASE WHEN t = 1 AND nth > 1 THEN epoch(TimeUnix) - epoch(StartTimeUnix)
                WHEN t = 2 THEN epoch(TimeUnix) - epoch(previous_time) END AS wall_seconds
    FROM points
)
SELECT process, TimeUnix, sum(cpu_seconds) AS cpu_seconds, max(wall_seconds) AS wall_seconds,
       sum(cpu_seconds) / max(wall_seconds) AS cores
FROM spans WHERE cpu_seconds IS NOT NULL AND wall_seconds > 0
GROUP BY process, TimeUnix;
