-- Upsert one batch into hc_dd_fktk (MySQL / MariaDB). A row whose values are all unchanged is
-- not rewritten, so its updated_at stays.
INSERT INTO `hc_dd_fktk` (
  `extend_processInstanceId`, `order_no_new`, `datetime_new`, `qty_count`, `sales_count`,
  `status`, `Document_Type`
) VALUES (
  :extend_processInstanceId, :order_no_new, :datetime_new, :qty_count, :sales_count,
  :status, :Document_Type
)
ON DUPLICATE KEY UPDATE
  `order_no_new` = VALUES(`order_no_new`),
  `datetime_new` = VALUES(`datetime_new`),
  `qty_count` = VALUES(`qty_count`),
  `sales_count` = VALUES(`sales_count`),
  `status` = VALUES(`status`),
  `Document_Type` = VALUES(`Document_Type`)
