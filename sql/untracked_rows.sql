-- Rows of {table} dated in [low, high); those no sync has recorded (written before this
-- pipeline ran against the table) are found by key in {sync_table} afterwards.
SELECT {key}, {date_column}
FROM {table}
WHERE {date_column} >= :low AND {date_column} < :high
