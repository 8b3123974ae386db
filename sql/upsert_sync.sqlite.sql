-- Record the copies a load brings (SQLite), moving each form's state only forward: a copy older
-- than the one recorded (lower version, or same version modified earlier) changes nothing.
INSERT INTO {sync_table} (
  process_instance_id, partition_date, source_version, source_modified_time,
  first_seen_run, first_seen_at, last_seen_run, last_seen_at
) VALUES (
  :process_instance_id, :partition_date, :source_version, :source_modified_time,
  :run_id, :seen_at, :run_id, :seen_at
)
ON CONFLICT (process_instance_id) DO UPDATE SET
  partition_date = excluded.partition_date,
  source_version = excluded.source_version,
  source_modified_time = excluded.source_modified_time,
  last_seen_run = excluded.last_seen_run,
  last_seen_at = excluded.last_seen_at,
  gone_since = NULL
WHERE (COALESCE(excluded.source_version, -1), COALESCE(excluded.source_modified_time, ''))
  >= (COALESCE({sync_table}.source_version, -1),
      COALESCE({sync_table}.source_modified_time, ''))
