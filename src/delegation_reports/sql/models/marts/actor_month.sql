-- Grain: one row per (mailbox, account) active on it in the month being built: how much, and
-- when it last succeeded. Kept from month to month: `dormant_delegation` and
-- `owner_inactive_delegate_active` read an account's past here instead of scanning events,
-- and `bulk_access` looks for bursts only where the month's reads are numerous enough.
SELECT
    $month::DATE AS month,
    mailbox,
    actor,
    count(*) AS n_events,
    count(*) FILTER (outcome = 'success') AS n_success,
    count(*) FILTER (outcome = 'success' AND action = 'read') AS n_reads,
    min(occurred_at) FILTER (outcome = 'success') AS first_success_at,
    max(occurred_at) FILTER (outcome = 'success') AS last_success_at
FROM audit_event
WHERE occurred_at >= $from_at AND occurred_at < $until_at
GROUP BY ALL
