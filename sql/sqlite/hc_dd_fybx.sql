-- hc_dd_fybx in SQLite (the embedded default): the same columns, amounts stored as exact text.
CREATE TABLE IF NOT EXISTS hc_dd_fybx (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  extend_processInstanceId VARCHAR(64) NOT NULL,
  order_no_new VARCHAR(64) NOT NULL,
  datetime_new DATETIME NOT NULL,
  expense_type VARCHAR(32) NOT NULL,
  qty_count INTEGER NOT NULL,
  sales_count TEXT NOT NULL,
  status VARCHAR(32) NOT NULL,
  Document_Type VARCHAR(32) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT uk_hc_dd_fybx_process_instance UNIQUE (extend_processInstanceId)
);
CREATE INDEX IF NOT EXISTS ix_hc_dd_fybx_datetime ON hc_dd_fybx (datetime_new);
