-- Grain: one row per valid staged row that is NOT new: a repetition of a row already in the
-- warehouse or earlier in the same file. `same_content` tells a true duplicate from a conflict.
-- Placeholders in braces are column and table names from the kind's definition, never data.
-- `stg` is read directly in each part: a shared CTE would be materialised whole.
WITH repeated_hash AS (
    -- Grouping 64-bit hashes costs far less than grouping the keys; exact keys are compared
    -- within the colliding hashes only.
    SELECT hash({key_cols}) AS key_hash
    FROM stg
    WHERE len(problems) = 0
    GROUP BY key_hash
    HAVING count(*) > 1
),
repeated_in_file AS (
    SELECT {key_cols}, min(line_number) AS first_line
    FROM stg
    WHERE len(problems) = 0 AND hash({key_cols}) IN (SELECT key_hash FROM repeated_hash)
    GROUP BY ALL
    HAVING count(*) > 1
),
in_warehouse AS (
    SELECT v.line_number, {content_v} IS NOT DISTINCT FROM {content_c} AS same_content,
        'file ' || c.source_file_id || ' line ' || c.source_line AS first_seen
    FROM stg AS v
    JOIN {table} AS c ON {key_join_core}
    WHERE len(v.problems) = 0
),
in_file AS (
    SELECT v.line_number, {content_v} IS NOT DISTINCT FROM {content_f} AS same_content,
        'line ' || r.first_line || ' of this file' AS first_seen
    FROM stg AS v
    JOIN repeated_in_file AS r ON {key_join_repeated} AND v.line_number <> r.first_line
    JOIN stg AS f ON f.line_number = r.first_line
    WHERE len(v.problems) = 0
)
SELECT * FROM in_warehouse
UNION ALL
SELECT * FROM in_file
WHERE line_number NOT IN (SELECT line_number FROM in_warehouse)
