-- Reconnects per accepted WebSocket connect: an accepted connection that replaced one of its session's that had ended (refused handshakes and second tabs are no reconnects).
WITH connections AS (
    SELECT ConnectionId, "Timestamp" AS started, "Timestamp" + to_microseconds(CAST(Duration / 1000 AS BIGINT)) AS ended,
           Reconnect = 'true' AS flagged, PreviousConnectionId
    FROM lo_spans
    WHERE Events IS NOT NULL AND list_contains(Events."Name", $WEBSOCKET_CONNECT_EVENT)
), judged AS (
    SELECT c.flagged AND (p.ConnectionId IS NULL OR p.ended <= c.started) AS reconnect
    FROM connections AS c
    LEFT JOIN (SELECT ConnectionId, max(ended) AS ended FROM connections GROUP BY ConnectionId) AS p
        ON p.ConnectionId = c.PreviousConnectionId
)
SELECT CASE WHEN count(*) > 0 THEN count(*) FILTER (WHERE reconnect) / count(*) END AS observed,
       count(*) AS evidence,
       format('{} reconnects over {} accepted connects', count(*) FILTER (WHERE reconnect), count(*)) AS detail
FROM judged;
