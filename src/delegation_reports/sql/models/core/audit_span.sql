-- Grain: one row per span of an audit file's coverage (file_id + from_at): the file's first to
-- last event, split at its coverage gaps (`ingest_file_gap`: two consecutive events more than
-- 92 days apart, docs/formats.md#coverage). A file without a gap is one span. An event dated
-- decades away from the rest of its file is a span of its own, so the months and hours the
-- models generate follow the data, not the distance between its instants.
WITH gap AS (
    SELECT
        file_id,
        after_at,
        before_at,
        lag(before_at) OVER (PARTITION BY file_id ORDER BY after_at) AS previous_before_at,
        row_number() OVER (PARTITION BY file_id ORDER BY after_at DESC) AS from_last
    FROM ingest_file_gap
),
span_bound AS (
    -- Each span but the last ends where a gap starts; the last starts where the last gap ends.
    SELECT file_id, previous_before_at AS resumed_at, after_at AS ended_at FROM gap
    UNION ALL
    SELECT file_id, before_at AS resumed_at, CAST(NULL AS TIMESTAMPTZ) AS ended_at
    FROM gap WHERE from_last = 1
)
SELECT
    f.file_id,
    f.operator,
    coalesce(b.resumed_at, f.covered_from_at) AS from_at,
    coalesce(b.ended_at, f.covered_to_at) AS to_at
FROM ingest_file AS f
LEFT JOIN span_bound AS b ON b.file_id = f.file_id
WHERE f.kind = 'audit' AND f.covered_from_at IS NOT NULL
