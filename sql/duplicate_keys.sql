-- Process instances stored more than once (must never happen: the key is UNIQUE).
SELECT {key}, COUNT(*) AS copies
FROM {table}
GROUP BY {key}
HAVING COUNT(*) > 1
ORDER BY copies DESC
LIMIT 20
