-- Record the copies a load brings (MySQL / MariaDB). A copy wins (its run becomes last_seen_run,
-- its version and day are recorded, its row is written) when it is at least as new as the recorded
-- one (version, then modifiedTimeGMT) and no scan that began after this copy's scan found the form
-- gone. When this copy's scan began is :seen_at (NULL for a rebuild from stored files, which
-- observed nothing); last_seen_at keeps the latest such start, whichever copy wins, and a form gone
-- before it is back. adopted clears: Yida returns the form, so it is ours.
-- The row lock this takes holds until the load commits, so overlapping loads of the same form take
-- turns. MySQL applies the assignments in order, each seeing the ones before: the compared columns
-- come last, the modification time before the version, gone_since after them.
INSERT INTO `{sync_table}` (
  `process_instance_id`, `partition_date`, `source_version`, `source_modified_time`,
  `first_seen_run`, `first_seen_at`, `last_seen_run`, `last_seen_at`
) VALUES (
  :process_instance_id, :partition_date, :source_version, :source_modified_time,
  :run_id, :loaded_at, :run_id, :seen_at
)
ON DUPLICATE KEY UPDATE
  `partition_date` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`gone_since` IS NULL OR `gone_since` < VALUES(`last_seen_at`)),
    VALUES(`partition_date`), `partition_date`),
  `last_seen_run` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`gone_since` IS NULL OR `gone_since` < VALUES(`last_seen_at`)),
    VALUES(`last_seen_run`), `last_seen_run`),
  `source_modified_time` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`gone_since` IS NULL OR `gone_since` < VALUES(`last_seen_at`)),
    VALUES(`source_modified_time`), `source_modified_time`),
  `source_version` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`source_version`, -1),
      COALESCE(`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`gone_since` IS NULL OR `gone_since` < VALUES(`last_seen_at`)),
    VALUES(`source_version`), `source_version`),
  `adopted` = IF(VALUES(`last_seen_at`) IS NULL, `adopted`, 0),
  `gone_since` = IF(`gone_since` < VALUES(`last_seen_at`), NULL, `gone_since`),
  `last_seen_at` = COALESCE(
    GREATEST(`last_seen_at`, VALUES(`last_seen_at`)), `last_seen_at`, VALUES(`last_seen_at`))
