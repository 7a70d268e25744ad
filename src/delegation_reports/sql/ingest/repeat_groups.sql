-- Grain: one row per key of the file being loaded that occurs more than once in the file or
-- was already loaded from an earlier file. Reads the rows just inserted into the kind's table.
-- Placeholders in braces are column and table names from the kind's definition, never data;
-- $file_id is bound.
WITH repeated_hash AS (
    -- Grouping 64-bit hashes costs far less than grouping the keys; the exact keys are then
    -- grouped within the colliding hashes only.
    SELECT hash({key_cols}) AS key_hash
    FROM {table}
    WHERE source_file_id = $file_id
    GROUP BY key_hash
    HAVING count(*) > 1
),
repeated_here AS (
    SELECT {key_cols}
    FROM {table}
    WHERE source_file_id = $file_id AND hash({key_cols}) IN (SELECT key_hash FROM repeated_hash)
    GROUP BY ALL
    HAVING count(*) > 1
),
earlier AS (
    SELECT DISTINCT {t_key_cols}, {o_content} AS earlier_content, o.source_file_id AS earlier_file_id
    FROM {table} AS t
    JOIN {table} AS o ON {t_o_key_join}
    WHERE t.source_file_id = $file_id AND o.source_file_id <> $file_id
),
repeated_keys AS (
    SELECT {key_cols} FROM repeated_here
    UNION
    SELECT {key_cols} FROM earlier
)
SELECT
    {k_key_cols},
    e.earlier_content,
    e.earlier_file_id,
    count(*) AS n_here,
    count(DISTINCT {t_content}) AS n_contents,
    count(*) FILTER ({t_content} IS NOT DISTINCT FROM e.earlier_content) AS n_same_as_earlier
FROM repeated_keys AS k
JOIN {table} AS t ON {t_k_key_join} AND t.source_file_id = $file_id
LEFT JOIN earlier AS e ON {e_k_key_join}
GROUP BY ALL
