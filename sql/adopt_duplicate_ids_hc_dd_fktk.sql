-- Process instances stored more than once in an adopted hc_dd_fktk, a batch at a time (rows
-- without an id are not forms we can match, and are never merged).
SELECT extend_processInstanceId, COUNT(*) AS copies
FROM hc_dd_fktk
WHERE extend_processInstanceId IS NOT NULL AND extend_processInstanceId <> ''
GROUP BY extend_processInstanceId
HAVING COUNT(*) > 1
ORDER BY extend_processInstanceId
LIMIT :limit
