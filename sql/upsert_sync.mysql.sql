-- Record the copies a load brings (MySQL / MariaDB), moving each form's state only forward: a copy
-- older than the one recorded (lower version, or same version modified earlier) changes nothing.
-- The row lock this takes holds until the load commits, so overlapping loads of the same form
-- take turns. MySQL applies the assignments in order, each seeing the ones before: the two
-- compared columns come last, the modification time before the version.
INSERT INTO `{sync_table}` (
  `process_instance_id`, `partition_date`, `source_version`, `source_modified_time`,
  `first_seen_run`, `first_seen_at`, `last_seen_run`, `last_seen_at`
) VALUES (
  :process_instance_id, :partition_date, :source_version, :source_modified_time,
  :run_id, :seen_at, :run_id, :seen_at
)
ON DUPLICATE KEY UPDATE
  `partition_date` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME))),
    VALUES(`partition_date`), `partition_date`),
  `last_seen_run` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME))),
    VALUES(`last_seen_run`), `last_seen_run`),
  `last_seen_at` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME))),
    VALUES(`last_seen_at`), `last_seen_at`),
  `gone_since` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME))),
    NULL, `gone_since`),
  `source_modified_time` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME))),
    VALUES(`source_modified_time`), `source_modified_time`),
  `source_version` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME))),
    VALUES(`source_version`), `source_version`)
