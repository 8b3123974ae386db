-- The rows, still in hc_dd_fktk, of forms gone upstream.
SELECT extend_processInstanceId AS row_key, order_no_new, sales_count
FROM hc_dd_fktk
WHERE extend_processInstanceId IN :keys
