-- Record a row found in {table} before any sync that Yida did not return for its days: reported
-- once as gone upstream, never deleted on that evidence alone (its creation day is unknown).
INSERT INTO {sync_table} (
  process_instance_id, partition_date, first_seen_run, first_seen_at, gone_since, adopted
) VALUES (:process_instance_id, :partition_date, :run_id, :now, :scanned_at, 1)
