-- The key that makes the upsert keep one row per processInstanceId (the name our DDL uses).
CREATE UNIQUE INDEX uk_{table}_process_instance ON {table} ({key})
