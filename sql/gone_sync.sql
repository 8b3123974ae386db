-- Forms of the given creation days that Yida no longer returns (what the no_forms_gone_upstream
-- check shows, with their rows read by key from {table}: no join, so that an adopted table of
-- another collation compares its own way).
SELECT process_instance_id, partition_date, gone_since, adopted, first_seen_run
FROM {sync_table}
WHERE partition_date IN :days AND gone_since IS NOT NULL
ORDER BY partition_date, process_instance_id
