-- Record the copies of the batch in the load's stage (MySQL / MariaDB), in one statement.
-- :seen_at is when their scan began; {sync_guard} is sync_guard.mysql.sql, the rule of which copy
-- wins.
INSERT INTO `{sync_table}` (
  `process_instance_id`, `partition_date`, `source_version`, `source_modified_time`,
  `first_seen_run`, `first_seen_at`, `last_seen_run`, `last_seen_at`
)
SELECT s.`{key}`, s.`partition_date`, s.`source_version`, s.`source_modified_time`,
  :run_id, :loaded_at, :run_id, :seen_at
FROM `{stage_table}` AS s
{sync_guard}
