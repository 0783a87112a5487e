-- WebSocket host check: at least one foreign host refused, and none accepted.
SELECT coalesce(g.observed, 0) AS observed, coalesce(g.evidence, 0) AS evidence,
       coalesce(g.detail, '0 foreign host(s) refused, 0 accepted') AS detail
FROM (SELECT $CHECK_WS_HOST AS wanted) AS w LEFT JOIN lo_ws_guards AS g ON g.CheckId = w.wanted;
