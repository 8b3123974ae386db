-- Upsert one batch into hc_dd_fktk (SQLite). Only rows whose values differ are rewritten.
INSERT INTO hc_dd_fktk (
  extend_processInstanceId, order_no_new, datetime_new, qty_count, sales_count, status,
  Document_Type
) VALUES (
  :extend_processInstanceId, :order_no_new, :datetime_new, :qty_count, :sales_count, :status,
  :Document_Type
)
ON CONFLICT (extend_processInstanceId) DO UPDATE SET
  order_no_new = excluded.order_no_new,
  datetime_new = excluded.datetime_new,
  qty_count = excluded.qty_count,
  sales_count = excluded.sales_count,
  status = excluded.status,
  Document_Type = excluded.Document_Type,
  updated_at = CURRENT_TIMESTAMP
WHERE order_no_new IS NOT excluded.order_no_new
   OR datetime_new IS NOT excluded.datetime_new
   OR qty_count IS NOT excluded.qty_count
   OR sales_count IS NOT excluded.sales_count
   OR status IS NOT excluded.status
   OR Document_Type IS NOT excluded.Document_Type
