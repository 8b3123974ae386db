-- How many forms created on the days [first, last] Yida returned last time we looked: what a
-- deep reconciliation of those days expects to list (its cost, before it spends it).
SELECT COUNT(*)
FROM {sync_table}
WHERE partition_date >= :first AND partition_date <= :last AND gone_since IS NULL
