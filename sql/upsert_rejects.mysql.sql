-- Record one batch of rejected source records (MySQL / MariaDB); first_seen is kept.
INSERT INTO `{rejects_table}` (
  `record_key`, `process_instance_id`, `field`, `reason`, `raw_value`, `run_id`
) VALUES (
  :record_key, :process_instance_id, :field, :reason, :raw_value, :run_id
)
ON DUPLICATE KEY UPDATE
  `reason` = VALUES(`reason`),
  `raw_value` = VALUES(`raw_value`),
  `run_id` = VALUES(`run_id`),
  `last_seen` = CURRENT_TIMESTAMP
