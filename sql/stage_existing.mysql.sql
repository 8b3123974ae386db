-- How many of the stage's rows (the newest copies) are already in {table}: tells inserts from
-- updates.
SELECT COUNT(*) FROM `{stage_table}` AS s JOIN `{table}` AS t ON t.`{key}` = s.`{key}`
