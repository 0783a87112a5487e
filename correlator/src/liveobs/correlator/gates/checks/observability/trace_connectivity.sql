-- Share of spans whose parent is missing and of log records pointing at a trace with no span.
-- A parent or trace outside the subject's scope (another release or service) still counts as present.
WITH unresolved AS MATERIALIZED (
    SELECT c.TraceId, c.ParentSpanId
    FROM lo_spans c
    ANTI JOIN lo_spans p ON p.TraceId = c.TraceId AND p.SpanId = c.ParentSpanId
    WHERE c.ParentSpanId <> ''
), orphan_spans AS (
    SELECT u.TraceId
    FROM unresolved u
    ANTI JOIN (
        SELECT TraceId, SpanId FROM otel_traces WHERE TraceId IN (SELECT TraceId FROM unresolved)
    ) p ON p.TraceId = u.TraceId AND p.SpanId = u.ParentSpanId
), unmatched_logs AS MATERIALIZED (
    SELECT l.TraceId
    FROM lo_logs l
    ANTI JOIN lo_spans s ON s.TraceId = l.TraceId
    WHERE nullif(l.TraceId, '') IS NOT NULL
), orphan_logs AS (
    SELECT l.TraceId
    FROM unmatched_logs l
    ANTI JOIN (
        SELECT DISTINCT TraceId FROM otel_traces WHERE TraceId IN (SELECT TraceId FROM unmatched_logs)
    ) t ON t.TraceId = l.TraceId
), counts AS (
    SELECT
        (SELECT count(*) FROM orphan_spans) AS spans_bad,
        (SELECT count(*) FROM orphan_logs) AS logs_bad,
        (SELECT count(*) FROM lo_spans) AS spans,
        (SELECT count(*) FROM lo_logs WHERE nullif(TraceId, '') IS NOT NULL) AS logs
)
SELECT
    CASE WHEN spans + logs > 0 THEN (spans_bad + logs_bad) / (spans + logs) END AS observed,
    spans + logs AS evidence,
    format('{} of {} spans have a missing parent; {} of {} log records point at a trace with no span',
           spans_bad, spans, logs_bad, logs) AS detail
FROM counts;
