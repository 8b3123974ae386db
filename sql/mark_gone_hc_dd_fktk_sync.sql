-- Yida no longer returns these forms: record since when (kept, never deleted, so a form that comes
-- back is recognised).
UPDATE hc_dd_fktk_sync SET gone_since = :now
WHERE process_instance_id IN :keys AND gone_since IS NULL
