-- After the sync state's upsert from the stage (MySQL / MariaDB): how many staged copies lost, i.e.
-- whose recorded copy is not this load's (older, or a later scan found the form gone). A locking
-- read: it must see the sync rows as they are now, not as this load's snapshot had them.
SELECT COUNT(*)
FROM `{stage_table}` AS s
JOIN `{sync_table}` AS y ON y.`process_instance_id` = s.`{key}`
WHERE y.`last_seen_run` IS NULL OR y.`last_seen_run` <> :run_id
LOCK IN SHARE MODE
