-- The key that makes the upsert keep one row per processInstanceId (the name our DDL uses).
CREATE UNIQUE INDEX uk_hc_dd_fktk_process_instance ON hc_dd_fktk (extend_processInstanceId)
