-- The load is done with its stage (no implicit commit: the table is temporary).
DROP TEMPORARY TABLE IF EXISTS `{stage_table}`
