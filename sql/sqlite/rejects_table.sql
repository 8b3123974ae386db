-- {rejects_table} for the embedded SQLite default (same as sql/{rejects_table}.sql).
CREATE TABLE IF NOT EXISTS {rejects_table} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  record_key VARCHAR(128) NOT NULL,
  process_instance_id VARCHAR(64),
  field VARCHAR(64) NOT NULL,
  reason VARCHAR(255) NOT NULL,
  raw_value TEXT,
  first_seen TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_seen TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  run_id VARCHAR(64) NOT NULL,
  CONSTRAINT uk_{rejects_table}_record_field UNIQUE (record_key, field)
);
