-- When some staged copies lost (stage_counts.mysql.sql): take them out of the stage, so that only
-- the newest copies are written. Reading the sync rows this load has just locked, as they are now.
DELETE s FROM `{stage_table}` AS s
JOIN `{sync_table}` AS y ON y.`process_instance_id` = s.`{key}`
WHERE y.`last_seen_run` IS NULL OR y.`last_seen_run` <> :run_id
