-- The recorded version and modification time of a batch's forms, after the guarded upsert (SQLite,
-- whose writers take turns): the incoming copies recorded are written to hc_dd_fktk.
SELECT process_instance_id, source_version, source_modified_time
FROM hc_dd_fktk_sync
WHERE process_instance_id IN :keys
