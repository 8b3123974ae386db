-- Process instances stored more than once (must never happen: the key is UNIQUE).
SELECT extend_processInstanceId, COUNT(*) AS copies
FROM hc_dd_fktk
GROUP BY extend_processInstanceId
HAVING COUNT(*) > 1
ORDER BY copies DESC
LIMIT 20
