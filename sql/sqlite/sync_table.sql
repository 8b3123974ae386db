-- {sync_table} for the embedded SQLite default (same as sql/{sync_table}.sql); days and times
-- are 'YYYY-MM-DD' and 'YYYY-MM-DD HH:MM:SS' text, which compare in time order.
CREATE TABLE IF NOT EXISTS {sync_table} (
  process_instance_id VARCHAR(64) NOT NULL PRIMARY KEY,
  partition_date TEXT,
  source_version INTEGER,
  source_modified_time TEXT,
  first_seen_run VARCHAR(64) NOT NULL,
  first_seen_at TEXT NOT NULL,
  last_seen_run VARCHAR(64),
  last_seen_at TEXT,
  gone_since TEXT,
  adopted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_{sync_table}_day ON {sync_table} (partition_date);
