-- {sync_table}: what the pipeline knows of each form it loaded into {table}, kept beside the
-- finance table so that {table} keeps the columns the 轻易云 scheme defined. Written in the same
-- transaction as every upsert. MySQL 8 / MariaDB 10.6+.
CREATE TABLE IF NOT EXISTS `{sync_table}` (
  `process_instance_id` VARCHAR(64) NOT NULL COMMENT '实例id (= {table}.{key})',
  `partition_date` DATE NULL COMMENT '创建日 (Asia/Shanghai), the Dagster partition',
  `source_version` INT NULL COMMENT '宜搭 version of the copy in {table}',
  `source_modified_time` DATETIME NULL COMMENT '宜搭 modifiedTimeGMT of that copy (UTC)',
  `first_seen_run` VARCHAR(64) NOT NULL COMMENT 'run that first loaded it',
  `first_seen_at` DATETIME NOT NULL COMMENT 'when (UTC)',
  `last_seen_run` VARCHAR(64) NULL COMMENT 'run that last loaded a copy of it',
  `last_seen_at` DATETIME NULL COMMENT 'when (UTC)',
  `gone_since` DATETIME NULL COMMENT 'when (UTC) 宜搭 stopped returning it, NULL while it does',
  `adopted` TINYINT NOT NULL DEFAULT 0 COMMENT '1: a row found in {table} before any sync',
  PRIMARY KEY (`process_instance_id`),
  KEY `ix_{sync_table}_day` (`partition_date`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='{table} 同步状态: 版本, 最近所见, 上游已删除';
