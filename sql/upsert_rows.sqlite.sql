-- Upsert one batch into a form's table (SQLite). Only rows whose values differ are rewritten.
INSERT INTO {table} ({columns}) VALUES ({values})
ON CONFLICT ({key}) DO UPDATE SET
  {sqlite_updates},
  updated_at = CURRENT_TIMESTAMP
WHERE {sqlite_changed}
