-- Forms of the given creation days that Yida returned last time we looked.
SELECT process_instance_id
FROM {sync_table}
WHERE partition_date IN :days AND gone_since IS NULL
