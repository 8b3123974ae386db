-- The load's stage (MySQL / MariaDB): one batch of cleaned rows with their lineage, written in one
-- bulk statement, then applied to {table} and {sync_table} by the stage_*.mysql.sql statements.
-- Temporary: private to the load's connection, invisible to everyone else, gone with it. Typed by
-- copying the two tables' own columns, so a team's widened or retyped column is staged as the
-- table holds it (and a value that does not fit is refused here, not rounded).
DROP TEMPORARY TABLE IF EXISTS `{stage_table}`;
CREATE TEMPORARY TABLE `{stage_table}`
SELECT {stage_select}
FROM `{table}` AS t JOIN `{sync_table}` AS y ON y.`process_instance_id` = t.`{key}`
WHERE 1 = 0
