-- Forms of the given creation days that Yida returned last time we looked.
SELECT process_instance_id
FROM hc_dd_fktk_sync
WHERE partition_date IN :days AND gone_since IS NULL
