-- Add one caller's list calls to its month (MySQL / MariaDB).
INSERT INTO `yida_api_calls` (`month`, `caller`, `list_calls`, `first_call_at`, `last_call_at`)
VALUES (:month, :caller, :calls, :at, :at)
ON DUPLICATE KEY UPDATE
  `list_calls` = `list_calls` + VALUES(`list_calls`),
  `last_call_at` = VALUES(`last_call_at`)
