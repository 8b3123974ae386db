-- Add one caller's list calls to its month (SQLite).
INSERT INTO yida_api_calls (month, caller, list_calls, first_call_at, last_call_at)
VALUES (:month, :caller, :calls, :at, :at)
ON CONFLICT (month, caller) DO UPDATE SET
  list_calls = list_calls + excluded.list_calls,
  last_call_at = excluded.last_call_at
