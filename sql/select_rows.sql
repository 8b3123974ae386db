-- The stored rows of a set of process instances: the key and every column a validity rule of
-- the spec checks (what the checks after a load look at).
SELECT {checked_columns}
FROM {table}
WHERE {key} IN :keys
