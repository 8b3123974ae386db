-- Rows of hc_dd_fktk dated in [low, high); those no sync has recorded (written before this
-- pipeline ran against the table) are found by key in hc_dd_fktk_sync afterwards.
SELECT extend_processInstanceId, datetime_new
FROM hc_dd_fktk
WHERE datetime_new >= :low AND datetime_new < :high
