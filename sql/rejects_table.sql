-- {rejects_table}: source records that could not become rows of {table}, with the reason.
-- One row per record and field; record_key is the processInstanceId, or a hash of the raw record
-- when it has no id.
CREATE TABLE IF NOT EXISTS `{rejects_table}` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `record_key` VARCHAR(128) NOT NULL COMMENT '实例id或原始记录摘要',
  `process_instance_id` VARCHAR(64) NULL COMMENT '实例id',
  `field` VARCHAR(64) NOT NULL COMMENT '出错字段',
  `reason` VARCHAR(255) NOT NULL COMMENT '原因',
  `raw_value` TEXT NULL COMMENT '原始值',
  `first_seen` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT '首次发现',
  `last_seen` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT '最近发现',
  `run_id` VARCHAR(64) NOT NULL COMMENT '最近一次发现它的运行',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_{rejects_table}_record_field` (`record_key`, `field`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='{table} 隔离区: 无法写入的源记录';
