-- Forms of the given creation days that Yida no longer returns, with their row when it is still
-- in hc_dd_fktk (what the no_forms_gone_upstream check shows).
SELECT s.process_instance_id, s.partition_date, s.gone_since, s.adopted, s.first_seen_run,
  t.extend_processInstanceId AS row_key, t.order_no_new, t.sales_count
FROM hc_dd_fktk_sync s
LEFT JOIN hc_dd_fktk t ON t.extend_processInstanceId = s.process_instance_id
WHERE s.partition_date IN :days AND s.gone_since IS NOT NULL
ORDER BY s.partition_date, s.process_instance_id
