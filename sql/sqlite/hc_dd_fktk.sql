-- hc_dd_fktk for the embedded SQLite default (same columns and key as sql/hc_dd_fktk.sql).
-- SQLite has no exact decimal: DECIMAL would store the amount as a binary float, so it is kept
-- as its exact text ('1280.50'); times are 'YYYY-MM-DD HH:MM:SS' text.
CREATE TABLE IF NOT EXISTS hc_dd_fktk (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  extend_processInstanceId VARCHAR(64) NOT NULL,
  order_no_new VARCHAR(64) NOT NULL,
  datetime_new DATETIME NOT NULL,
  qty_count INTEGER NOT NULL,
  sales_count TEXT NOT NULL,
  status VARCHAR(32) NOT NULL,
  Document_Type VARCHAR(32) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT uk_hc_dd_fktk_process_instance UNIQUE (extend_processInstanceId)
);
CREATE INDEX IF NOT EXISTS ix_hc_dd_fktk_datetime ON hc_dd_fktk (datetime_new);
