-- yida_api_calls for the embedded SQLite default (same as sql/yida_api_calls.sql).
CREATE TABLE IF NOT EXISTS yida_api_calls (
  month CHAR(7) NOT NULL,
  caller VARCHAR(128) NOT NULL,
  list_calls INTEGER NOT NULL DEFAULT 0,
  first_call_at TEXT NOT NULL,
  last_call_at TEXT NOT NULL,
  PRIMARY KEY (month, caller)
);
