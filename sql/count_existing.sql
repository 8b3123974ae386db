-- How many of a batch's keys are already in {table} (tells inserts from updates).
SELECT COUNT(*) FROM {table} WHERE {key} IN :keys
