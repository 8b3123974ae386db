-- Forms Yida returns again (also those rejected this time, whose earlier copy is a row), to a scan
-- that began after the one that found them gone. Returned, they are ours: no longer adopted.
UPDATE {sync_table} SET gone_since = NULL, adopted = 0, last_seen_at = :scanned_at
WHERE process_instance_id IN :keys AND gone_since IS NOT NULL AND gone_since < :scanned_at
