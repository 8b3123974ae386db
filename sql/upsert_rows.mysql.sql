-- Upsert one batch into a form's table (MySQL / MariaDB). {columns} and {updates} are the
-- spec's target columns (validated against the table's DDL); every value is bound (:column).
-- A row whose values are all unchanged is not rewritten, so its updated_at stays.
INSERT INTO `{table}` ({columns}) VALUES ({values})
ON DUPLICATE KEY UPDATE
  {mysql_updates}
