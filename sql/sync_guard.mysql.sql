-- The guard of the sync state's upsert (MySQL / MariaDB), shared by upsert_sync.mysql.sql (a batch
-- as VALUES) and upsert_sync_staged.mysql.sql (a batch from the load's stage). A copy wins (its
-- run becomes last_seen_run, its version and day are recorded, its row is written) when it is at
-- least as new as the recorded one (version, then modifiedTimeGMT) and no scan that began after
-- this copy's scan found the form gone. When this copy's scan began is VALUES(last_seen_at) (NULL
-- for a rebuild from stored files, which observed nothing); last_seen_at keeps the latest such
-- start, whichever copy wins, and a form gone before it is back. adopted clears: Yida returns the
-- form, so it is ours.
-- The row lock this takes holds until the load commits, so overlapping loads of the same form take
-- turns. MySQL applies the assignments in order, each seeing the ones before: the compared columns
-- come last, the modification time before the version, gone_since after them. The table's own
-- columns are named with the table: from the stage, columns of the same names are in scope too.
ON DUPLICATE KEY UPDATE
  `{sync_table}`.`partition_date` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`{sync_table}`.`source_version`, -1),
      COALESCE(`{sync_table}`.`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`{sync_table}`.`gone_since` IS NULL
      OR `{sync_table}`.`gone_since` < VALUES(`last_seen_at`)),
    VALUES(`partition_date`), `{sync_table}`.`partition_date`),
  `{sync_table}`.`last_seen_run` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`{sync_table}`.`source_version`, -1),
      COALESCE(`{sync_table}`.`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`{sync_table}`.`gone_since` IS NULL
      OR `{sync_table}`.`gone_since` < VALUES(`last_seen_at`)),
    VALUES(`last_seen_run`), `{sync_table}`.`last_seen_run`),
  `{sync_table}`.`source_modified_time` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`{sync_table}`.`source_version`, -1),
      COALESCE(`{sync_table}`.`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`{sync_table}`.`gone_since` IS NULL
      OR `{sync_table}`.`gone_since` < VALUES(`last_seen_at`)),
    VALUES(`source_modified_time`), `{sync_table}`.`source_modified_time`),
  `{sync_table}`.`source_version` = IF(
    (COALESCE(VALUES(`source_version`), -1),
      COALESCE(VALUES(`source_modified_time`), CAST('1000-01-01' AS DATETIME)))
    >= (COALESCE(`{sync_table}`.`source_version`, -1),
      COALESCE(`{sync_table}`.`source_modified_time`, CAST('1000-01-01' AS DATETIME)))
    AND (`{sync_table}`.`gone_since` IS NULL
      OR `{sync_table}`.`gone_since` < VALUES(`last_seen_at`)),
    VALUES(`source_version`), `{sync_table}`.`source_version`),
  `{sync_table}`.`adopted` = IF(VALUES(`last_seen_at`) IS NULL, `{sync_table}`.`adopted`, 0),
  `{sync_table}`.`gone_since` = IF(
    `{sync_table}`.`gone_since` < VALUES(`last_seen_at`), NULL, `{sync_table}`.`gone_since`),
  `{sync_table}`.`last_seen_at` = COALESCE(
    GREATEST(`{sync_table}`.`last_seen_at`, VALUES(`last_seen_at`)),
    `{sync_table}`.`last_seen_at`, VALUES(`last_seen_at`))
