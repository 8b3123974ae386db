-- Rows of hc_dd_fktk that no sync has recorded (written before this pipeline ran against the
-- table), dated in [low, high): their creation day is unknown, only their form date.
SELECT t.extend_processInstanceId, t.datetime_new
FROM hc_dd_fktk t
LEFT JOIN hc_dd_fktk_sync s ON s.process_instance_id = t.extend_processInstanceId
WHERE s.process_instance_id IS NULL AND t.datetime_new >= :low AND t.datetime_new < :high
