-- The recorded version and modification time of a batch's forms, after the guarded upsert (MySQL /
-- MariaDB): a form whose recorded copy is the incoming one is written to hc_dd_fktk, the others
-- were older. A locking read: the load's snapshot could predate another load's newer copy.
SELECT process_instance_id, source_version, source_modified_time
FROM hc_dd_fktk_sync
WHERE process_instance_id IN :keys
FOR UPDATE
