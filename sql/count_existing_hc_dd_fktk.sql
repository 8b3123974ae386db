-- How many of a batch's keys are already in hc_dd_fktk (tells inserts from updates).
SELECT COUNT(*) FROM hc_dd_fktk WHERE extend_processInstanceId IN :keys
