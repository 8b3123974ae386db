-- The stored rows of a set of process instances (what the checks after a load look at).
SELECT extend_processInstanceId, order_no_new, datetime_new, sales_count
FROM hc_dd_fktk
WHERE extend_processInstanceId IN :keys
