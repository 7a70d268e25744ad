-- Grain: one row per valid staged row that is NOT new: a repetition of a row already in the
-- warehouse or earlier in the same file. `same_content` tells a true duplicate from a conflict.
-- Placeholders in braces are column and table names from the kind's definition, never data.
WITH valid AS (
    SELECT line_number, {key_cols}, {content_struct} AS content
    FROM stg
    WHERE len(problems) = 0
),
repeated_in_file AS (
    SELECT {key_cols}, min(line_number) AS first_line
    FROM valid
    GROUP BY ALL
    HAVING count(*) > 1
),
in_warehouse AS (
    SELECT v.line_number, v.content IS NOT DISTINCT FROM {content_struct_core} AS same_content,
        'file ' || c.source_file_id || ' line ' || c.source_line AS first_seen
    FROM valid AS v
    JOIN {table} AS c ON {key_join_core}
),
in_file AS (
    SELECT v.line_number, v.content IS NOT DISTINCT FROM f.content AS same_content,
        'line ' || r.first_line || ' of this file' AS first_seen
    FROM valid AS v
    JOIN repeated_in_file AS r ON {key_join_repeated} AND v.line_number <> r.first_line
    JOIN valid AS f ON f.line_number = r.first_line
)
SELECT * FROM in_warehouse
UNION ALL
SELECT * FROM in_file
WHERE line_number NOT IN (SELECT line_number FROM in_warehouse)
