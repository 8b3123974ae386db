-- The stored rows of forms gone upstream: the key and the columns the spec checks, to name them.
SELECT {key} AS row_key, {shown_columns}
FROM {table}
WHERE {key} IN :keys
