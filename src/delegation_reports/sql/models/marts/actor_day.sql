-- Grain: one row per (mailbox, account, Paris day) with successful actions in the month being
-- built (logins, failures and logouts aside): when it first and last acted, and its first
-- action's id. Kept from month to month: `replacement_while_holder_active` compares the
-- holder's days with a replacement's here, for any month, without the events.
SELECT
    $month::DATE AS month,
    a.mailbox,
    a.actor,
    -- Paris time through `paris_hour`; events outside the hours it holds convert directly.
    CAST(coalesce(make_timestamp(epoch_us(a.occurred_at) + h.offset_us),
                  timezone('Europe/Paris', a.occurred_at)) AS DATE) AS day,
    min(a.occurred_at) AS first_at,
    max(a.occurred_at) AS last_at,
    -- Two actions at the same instant: the smaller id, so that the first is one and the same
    -- whatever the order the events are read in.
    arg_min(a.event_id, struct_pack(a.occurred_at, a.event_id)) AS first_event_id
FROM audit_event AS a
LEFT JOIN paris_hour AS h ON h.utc_hour = epoch_us(a.occurred_at) // 3600000000
WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
  AND a.outcome = 'success' AND a.action NOT IN ('login', 'login_failed', 'logout')
GROUP BY ALL
