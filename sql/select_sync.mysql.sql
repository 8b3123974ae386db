-- After the guarded upsert of a batch (MySQL / MariaDB): the batch's forms whose recorded copy is
-- not the one this load brought (its copy was older), i.e. whose last load was another one. A
-- locking read: the load's snapshot could predate another load's newer copy.
SELECT process_instance_id
FROM {sync_table}
WHERE process_instance_id IN :keys
  AND NOT (last_seen_run = :run_id AND last_seen_at = :seen_at)
FOR UPDATE
