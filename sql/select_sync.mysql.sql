-- After the guarded upsert of a batch (MySQL / MariaDB): the batch's forms whose recorded copy is
-- not the one this load brought (older, or a later scan found the form gone), i.e. whose last
-- load was another one. A locking read: the load's snapshot could predate another load's copy.
SELECT process_instance_id
FROM {sync_table}
WHERE process_instance_id IN :keys
  AND (last_seen_run IS NULL OR last_seen_run <> :run_id)
FOR UPDATE
