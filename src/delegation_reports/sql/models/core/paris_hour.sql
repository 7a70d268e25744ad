-- Grain: one row per UTC hour the audit data covers (from the manifest), with the offset of
-- Paris time in that hour. Paris is a whole number of hours from UTC, so the wall-clock time
-- of an event is its instant plus the offset of its hour: one integer join per event instead
-- of one time-zone conversion, the conversions being made here once per hour.
WITH span AS (
    SELECT
        -- Integer microseconds: a cast of fractional seconds rounds on one engine and
        -- truncates on another.
        epoch_us(min(covered_from_at)) // 3600000000 - 24 AS first_hour,
        epoch_us(max(covered_to_at)) // 3600000000 + 24 AS last_hour
    FROM ingest_file
    WHERE kind = 'audit' AND covered_from_at IS NOT NULL
)
SELECT
    h AS utc_hour,
    epoch_us(timezone('Europe/Paris', make_timestamp(h * 3600000000)::TIMESTAMPTZ)) - h * 3600000000 AS offset_us
FROM (SELECT unnest(range(first_hour, last_hour + 1)) AS h FROM span)
