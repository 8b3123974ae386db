-- Forms of the given creation days that Yida returned last time we looked, and that no scan
-- which began at or after this one (:scanned_at) has seen: only those can be gone by its word.
SELECT process_instance_id
FROM {sync_table}
WHERE partition_date IN :days AND gone_since IS NULL
  AND (last_seen_at IS NULL OR last_seen_at < :scanned_at)
