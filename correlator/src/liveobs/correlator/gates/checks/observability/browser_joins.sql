-- Share of browser actions whose event id joins a server live event span.
WITH actions AS (
    SELECT nullif(EventId, '') AS EventId FROM lo_logs WHERE EventName = $BROWSER_ACTION_EVENT
), joined AS (
    SELECT count(*) AS n FROM actions a SEMI JOIN lo_spans s ON s.EventId = a.EventId
)
SELECT
    CASE WHEN count(*) > 0 THEN (SELECT n FROM joined) / count(*) END AS observed,
    count(*) AS evidence,
    format('{} of {} browser actions join a server event span', (SELECT n FROM joined), count(*)) AS detail
FROM actions;
