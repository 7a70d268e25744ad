-- Grain: one row per (mailbox, account, address, client software) seen in successful events
-- of the month being built, with the first time. Kept from month to month: `new_client`
-- compares a month with the months before it here.
SELECT
    $month::DATE AS month,
    mailbox,
    actor,
    client_ip,
    user_agent,
    min(occurred_at) AS first_at
FROM audit_event
WHERE occurred_at >= $from_at AND occurred_at < $until_at AND outcome = 'success'
GROUP BY ALL
