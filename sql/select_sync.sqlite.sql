-- After the guarded upsert of a batch (SQLite, whose writers take turns): the batch's forms whose
-- recorded copy is not the one this load brought (older, or a later scan found the form gone).
SELECT process_instance_id
FROM {sync_table}
WHERE process_instance_id IN :keys
  AND (last_seen_run IS NULL OR last_seen_run <> :run_id)
