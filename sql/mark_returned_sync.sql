-- Forms Yida returns again (also those rejected this time, whose earlier copy is a row).
UPDATE {sync_table} SET gone_since = NULL
WHERE process_instance_id IN :keys AND gone_since IS NOT NULL
