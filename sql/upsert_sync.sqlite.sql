-- Record the copies a load brings (SQLite); the rule of upsert_sync.mysql.sql. A copy wins when it
-- is at least as new as the recorded one (version, then modifiedTimeGMT) and no scan that began
-- after its own (:seen_at, NULL for a rebuild from stored files) found the form gone. Every
-- assignment reads the row as it was.
INSERT INTO {sync_table} (
  process_instance_id, partition_date, source_version, source_modified_time,
  first_seen_run, first_seen_at, last_seen_run, last_seen_at
) VALUES (
  :process_instance_id, :partition_date, :source_version, :source_modified_time,
  :run_id, :loaded_at, :run_id, :seen_at
)
ON CONFLICT (process_instance_id) DO UPDATE SET
  partition_date = CASE WHEN
      (COALESCE(excluded.source_version, -1), COALESCE(excluded.source_modified_time, ''))
      >= (COALESCE({sync_table}.source_version, -1),
        COALESCE({sync_table}.source_modified_time, ''))
      AND ({sync_table}.gone_since IS NULL OR {sync_table}.gone_since < excluded.last_seen_at)
    THEN excluded.partition_date ELSE {sync_table}.partition_date END,
  source_version = CASE WHEN
      (COALESCE(excluded.source_version, -1), COALESCE(excluded.source_modified_time, ''))
      >= (COALESCE({sync_table}.source_version, -1),
        COALESCE({sync_table}.source_modified_time, ''))
      AND ({sync_table}.gone_since IS NULL OR {sync_table}.gone_since < excluded.last_seen_at)
    THEN excluded.source_version ELSE {sync_table}.source_version END,
  source_modified_time = CASE WHEN
      (COALESCE(excluded.source_version, -1), COALESCE(excluded.source_modified_time, ''))
      >= (COALESCE({sync_table}.source_version, -1),
        COALESCE({sync_table}.source_modified_time, ''))
      AND ({sync_table}.gone_since IS NULL OR {sync_table}.gone_since < excluded.last_seen_at)
    THEN excluded.source_modified_time ELSE {sync_table}.source_modified_time END,
  last_seen_run = CASE WHEN
      (COALESCE(excluded.source_version, -1), COALESCE(excluded.source_modified_time, ''))
      >= (COALESCE({sync_table}.source_version, -1),
        COALESCE({sync_table}.source_modified_time, ''))
      AND ({sync_table}.gone_since IS NULL OR {sync_table}.gone_since < excluded.last_seen_at)
    THEN excluded.last_seen_run ELSE {sync_table}.last_seen_run END,
  adopted = CASE WHEN excluded.last_seen_at IS NULL THEN {sync_table}.adopted ELSE 0 END,
  gone_since = CASE WHEN {sync_table}.gone_since < excluded.last_seen_at
    THEN NULL ELSE {sync_table}.gone_since END,
  last_seen_at = COALESCE(
    MAX({sync_table}.last_seen_at, excluded.last_seen_at),
    {sync_table}.last_seen_at, excluded.last_seen_at)
