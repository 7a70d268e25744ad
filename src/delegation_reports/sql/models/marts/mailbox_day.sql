-- Grain: one row per (operator, mailbox, Paris day) with at least one trace in the month
-- being built. Kept from month to month: `audit_gap` reads the days around a month here
-- instead of scanning their events.
SELECT
    $month::DATE AS month,
    operator,
    mailbox,
    CAST(timezone('Europe/Paris', occurred_at) AS DATE) AS day,
    count(*) AS n_events
FROM audit_event
WHERE occurred_at >= $from_at AND occurred_at < $until_at
GROUP BY ALL
