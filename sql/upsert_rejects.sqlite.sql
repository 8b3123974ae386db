-- Record one batch of rejected source records (SQLite); first_seen is kept.
INSERT INTO {rejects_table} (record_key, process_instance_id, field, reason, raw_value, run_id)
VALUES (:record_key, :process_instance_id, :field, :reason, :raw_value, :run_id)
ON CONFLICT (record_key, field) DO UPDATE SET
  reason = excluded.reason,
  raw_value = excluded.raw_value,
  run_id = excluded.run_id,
  last_seen = CURRENT_TIMESTAMP
