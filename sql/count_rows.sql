-- Rows in {table}: the table's size, shown as the asset's row count.
SELECT COUNT(*) FROM {table}
