-- Which of the given forms the sync state has recorded.
SELECT process_instance_id FROM hc_dd_fktk_sync WHERE process_instance_id IN :keys
