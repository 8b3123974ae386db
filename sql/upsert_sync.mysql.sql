-- Record the copies a load brings, a batch as VALUES (MySQL / MariaDB): the rows path, taken when
-- the database refuses the load a temporary stage. When this copy's scan began is :seen_at.
-- {sync_guard} is sync_guard.mysql.sql, the rule of which copy wins.
INSERT INTO `{sync_table}` (
  `process_instance_id`, `partition_date`, `source_version`, `source_modified_time`,
  `first_seen_run`, `first_seen_at`, `last_seen_run`, `last_seen_at`
) VALUES (
  :process_instance_id, :partition_date, :source_version, :source_modified_time,
  :run_id, :loaded_at, :run_id, :seen_at
)
{sync_guard}
