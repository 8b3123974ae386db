-- yida_api_calls: the list calls this project made to Yida, per China calendar month and per
-- caller (an asset or a sensor). DingTalk's monthly quota is the organisation's, shared with
-- every other integration; this is our share of it. MySQL 8 / MariaDB 10.6+.
CREATE TABLE IF NOT EXISTS `yida_api_calls` (
  `month` CHAR(7) NOT NULL COMMENT 'China calendar month, YYYY-MM',
  `caller` VARCHAR(128) NOT NULL COMMENT 'the asset or sensor that made the calls',
  `list_calls` BIGINT NOT NULL DEFAULT 0 COMMENT 'GetInstances calls sent',
  `first_call_at` DATETIME NOT NULL COMMENT 'China time',
  `last_call_at` DATETIME NOT NULL COMMENT 'China time',
  PRIMARY KEY (`month`, `caller`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='宜搭接口调用次数 (per month, China time)';
