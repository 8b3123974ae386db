-- Rows in hc_dd_fktk: the table's size, shown as the asset's row count.
SELECT COUNT(*) FROM hc_dd_fktk
