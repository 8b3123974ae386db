-- What an adoption plan counts: rows, rows without an id, ids stored more than once and their rows.
SELECT
  (SELECT COUNT(*) FROM {table}) AS total_rows,
  (SELECT COUNT(*) FROM {table} WHERE {key} IS NULL) AS null_ids,
  (SELECT COUNT(*) FROM {table} WHERE {key} = '') AS empty_ids,
  (SELECT COUNT(*) FROM (
     SELECT 1 FROM {table}
     WHERE {key} IS NOT NULL AND {key} <> ''
     GROUP BY {key} HAVING COUNT(*) > 1
   ) AS d) AS duplicated_ids,
  (SELECT COALESCE(SUM(copies), 0) FROM (
     SELECT COUNT(*) AS copies FROM {table}
     WHERE {key} IS NOT NULL AND {key} <> ''
     GROUP BY {key} HAVING COUNT(*) > 1
   ) AS c) AS duplicated_rows
