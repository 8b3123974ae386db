-- Yida no longer returns these forms: record the start of the scan that found it (kept, never
-- deleted, so a form that comes back is recognised).
UPDATE {sync_table} SET gone_since = :scanned_at
WHERE process_instance_id IN :keys AND gone_since IS NULL
