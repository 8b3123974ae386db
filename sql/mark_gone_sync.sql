-- Yida no longer returns these forms: record since when (kept, never deleted, so a form that comes
-- back is recognised).
UPDATE {sync_table} SET gone_since = :now
WHERE process_instance_id IN :keys AND gone_since IS NULL
