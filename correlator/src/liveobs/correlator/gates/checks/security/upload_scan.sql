-- Every upload is scanned, no infected upload is accepted, and the scanner refused the EICAR canary (not applicable without uploads).
WITH scans AS (
    SELECT Attributes[$SECURITY_OUTCOME] AS outcome, Attributes[$SECURITY_DECISION] AS decision,
           coalesce(Attributes[$UPLOAD_SCANNER], '?') AS scanner,
           Attributes[$UPLOAD_CANARY] = $CANARY_EICAR OR list_contains($eicar_digests, Attributes[$UPLOAD_SHA256]) AS canary
    FROM lo_span_events
    WHERE EventName = $SECURITY_EVENT AND Attributes[$SECURITY_CHECK] = $CHECK_UPLOAD_SCAN
), counts AS (
    SELECT count(*) AS scanned,
           count(*) FILTER (WHERE outcome = $OUTCOME_INFECTED AND decision IS DISTINCT FROM $OUTCOME_REFUSED) AS infected_accepted,
           count(*) FILTER (WHERE canary) AS canaries,
           count(*) FILTER (WHERE canary AND (outcome IS DISTINCT FROM $OUTCOME_INFECTED OR decision = $OUTCOME_ACCEPTED)) AS canary_missed,
           list_slice(list(DISTINCT scanner ORDER BY scanner) FILTER (WHERE canary AND outcome IS DISTINCT FROM $OUTCOME_INFECTED), 1, 3) AS blind,
           (SELECT coalesce(sum("Count"), 0) FROM lo_histograms WHERE MetricName = $METRIC_UPLOAD_BYTES) AS uploads
    FROM scans
)
SELECT infected_accepted + canary_missed + greatest(uploads - scanned, 0) AS observed,
       canaries AS evidence,
       uploads > 0 OR scanned > 0 AS applicable,
       CASE WHEN uploads = 0 AND scanned = 0 THEN 'no uploads in the evidence'
            ELSE format('{} uploads, {} scanned, {} infected accepted, EICAR canary scanned {} times, missed {}{}{}',
                        uploads, scanned, infected_accepted, canaries, canary_missed,
                        coalesce(' (scanner ' || array_to_string(blind, ', ') || ' called it clean)', ''),
                        CASE WHEN canaries = 0 THEN '; upload the EICAR test file to show the scanner works' ELSE '' END)
       END AS detail
FROM counts;
