-- Remove rows of forms gone upstream (policy DD_REFUND_GONE_UPSTREAM=delete); the sync state keeps
-- them, with gone_since.
DELETE FROM {table} WHERE {key} IN :keys
