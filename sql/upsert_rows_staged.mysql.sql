-- Upsert the stage's rows into a form's table (MySQL / MariaDB), in one statement, in the order
-- they were staged. A row whose values are all unchanged is not rewritten, so its updated_at stays.
INSERT INTO `{table}` ({columns})
SELECT {stage_row_columns} FROM `{stage_table}` AS s
ON DUPLICATE KEY UPDATE
  {mysql_updates}
