-- Every upload is scanned and no infected upload is accepted.
WITH scans AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_DECISION] AS decision
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_UPLOAD_SCAN
), counts AS (
    SELECT count(*) AS scanned,
           count(*) FILTER (WHERE outcome = $OUTCOME_INFECTED AND decision IS DISTINCT FROM $OUTCOME_REFUSED) AS infected_accepted,
           (SELECT coalesce(sum("Count"), 0) FROM lo_histograms WHERE MetricName = $METRIC_UPLOAD_BYTES) AS uploads
    FROM scans
)
SELECT infected_accepted + greatest(uploads - scanned, 0) AS observed,
       scanned AS evidence,
       format('{} uploads, {} scanned, {} infected accepted', uploads, scanned, infected_accepted) AS detail
FROM counts;
