-- Which of the given forms the sync state has recorded.
SELECT process_instance_id FROM {sync_table} WHERE process_instance_id IN :keys
