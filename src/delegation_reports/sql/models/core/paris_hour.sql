-- Grain: one row per UTC hour the audit data covers (from the manifest's coverage spans,
-- `audit_span`, a day either side of each), with the offset of Paris time in that hour. Paris
-- is a whole number of hours from UTC, so the wall-clock time of an event is its instant plus
-- the offset of its hour: one integer join per event instead of one time-zone conversion, the
-- conversions being made here once per hour. Events outside these hours convert directly.
WITH span AS (
    SELECT
        -- Integer microseconds: a cast of fractional seconds rounds on one engine and
        -- truncates on another.
        epoch_us(from_at) // 3600000000 - 24 AS first_hour,
        epoch_us(to_at) // 3600000000 + 24 AS last_hour
    FROM audit_span
),
run_start AS (
    -- Overlapping or adjacent spans make one run of hours: a span starts a run when it
    -- begins after every span before it ended.
    SELECT
        first_hour,
        last_hour,
        CASE WHEN first_hour <= 1 + max(last_hour) OVER (
                ORDER BY first_hour, last_hour ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
             THEN 0 ELSE 1 END AS starts_run
    FROM span
),
hour_run AS (
    SELECT min(first_hour) AS first_hour, max(last_hour) AS last_hour
    FROM (
        SELECT first_hour, last_hour,
            sum(starts_run) OVER (ORDER BY first_hour, last_hour ROWS UNBOUNDED PRECEDING) AS run_id
        FROM run_start
    )
    GROUP BY run_id
)
SELECT
    h AS utc_hour,
    epoch_us(timezone('Europe/Paris', make_timestamp(h * 3600000000)::TIMESTAMPTZ)) - h * 3600000000 AS offset_us
FROM (SELECT unnest(range(first_hour, last_hour + 1)) AS h FROM hour_run)
