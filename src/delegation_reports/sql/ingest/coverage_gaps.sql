-- Grain: one row per gap in the coverage of an audit file (file_id + after_at), from the
-- instants of its events in `file_event` (file_id, occurred_at): two consecutive events more
-- than $gap_days days apart, `after_at` the last before the gap and `before_at` the first after
-- it. Read by day (the first and last event of each day of each file): a few hundred rows a
-- year, whatever the number of events.
WITH event_day AS (
    SELECT file_id, min(occurred_at) AS first_at, max(occurred_at) AS last_at
    FROM file_event
    GROUP BY file_id, epoch_us(occurred_at) // 86400000000
),
step AS (
    SELECT
        file_id,
        last_at AS after_at,
        lead(first_at) OVER (PARTITION BY file_id ORDER BY first_at) AS before_at
    FROM event_day
)
SELECT file_id, after_at, before_at
FROM step
WHERE before_at > after_at + to_days(CAST($gap_days AS INTEGER))
ORDER BY file_id, after_at
