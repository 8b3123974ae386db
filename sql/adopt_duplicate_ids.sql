-- Process instances stored more than once in an adopted {table}, a batch at a time (rows
-- without an id are not forms we can match, and are never merged).
SELECT {key}, COUNT(*) AS copies
FROM {table}
WHERE {key} IS NOT NULL AND {key} <> ''
GROUP BY {key}
HAVING COUNT(*) > 1
ORDER BY {key}
LIMIT :limit
