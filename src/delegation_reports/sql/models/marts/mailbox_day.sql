-- Grain: one row per (operator, mailbox, Paris day) with at least one trace in the month
-- being built. Kept from month to month: `audit_gap` reads the days around a month here
-- instead of scanning their events.
SELECT
    $month::DATE AS month,
    a.operator,
    a.mailbox,
    -- Paris time through `paris_hour`; events outside the hours it holds convert directly.
    CAST(coalesce(make_timestamp(epoch_us(a.occurred_at) + h.offset_us),
                  timezone('Europe/Paris', a.occurred_at)) AS DATE) AS day,
    count(*) AS n_events
FROM audit_event AS a
LEFT JOIN paris_hour AS h ON h.utc_hour = epoch_us(a.occurred_at) // 3600000000
WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
GROUP BY ALL
