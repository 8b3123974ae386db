-- What an adoption plan counts: rows, rows without an id, ids stored more than once and their rows.
SELECT
  (SELECT COUNT(*) FROM hc_dd_fktk) AS total_rows,
  (SELECT COUNT(*) FROM hc_dd_fktk WHERE extend_processInstanceId IS NULL) AS null_ids,
  (SELECT COUNT(*) FROM hc_dd_fktk WHERE extend_processInstanceId = '') AS empty_ids,
  (SELECT COUNT(*) FROM (
     SELECT 1 FROM hc_dd_fktk
     WHERE extend_processInstanceId IS NOT NULL AND extend_processInstanceId <> ''
     GROUP BY extend_processInstanceId HAVING COUNT(*) > 1
   ) AS d) AS duplicated_ids,
  (SELECT COALESCE(SUM(copies), 0) FROM (
     SELECT COUNT(*) AS copies FROM hc_dd_fktk
     WHERE extend_processInstanceId IS NOT NULL AND extend_processInstanceId <> ''
     GROUP BY extend_processInstanceId HAVING COUNT(*) > 1
   ) AS c) AS duplicated_rows
