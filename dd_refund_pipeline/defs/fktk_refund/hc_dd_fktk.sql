-- hc_dd_fktk: approved 付款退款 (payment refund) forms from DingTalk Yida, one row per process
-- instance. MySQL 8 / MariaDB 10.6+. Applied only when the table does not exist yet.
CREATE TABLE IF NOT EXISTS `hc_dd_fktk` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `extend_processInstanceId` VARCHAR(64) NOT NULL COMMENT '明细id',
  `order_no_new` VARCHAR(64) NOT NULL COMMENT '单号',
  `datetime_new` DATETIME NOT NULL COMMENT '时间',
  `qty_count` INT NOT NULL COMMENT '数量',
  `sales_count` DECIMAL(18,2) NOT NULL COMMENT '金额',
  `status` VARCHAR(32) NOT NULL COMMENT '状态',
  `Document_Type` VARCHAR(32) NOT NULL COMMENT '单据类型',
  `created_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT '首次写入时间',
  `updated_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
    COMMENT '最后变更时间',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_hc_dd_fktk_process_instance` (`extend_processInstanceId`),
  KEY `ix_hc_dd_fktk_datetime` (`datetime_new`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='钉钉宜搭 新报销退款单 → 付款退款';
