-- Grain: one row per audit event of the window [$from_at, $until_at), attributed (see
-- `attributed_access`), with the columns the rules read. Built in memory once per month
-- rebuilt, so that each rule reads a narrow table instead of attributing the month again.
SELECT
    a.operator, a.event_id, a.occurred_at,
    -- Paris time through `paris_hour`; events outside the hours it holds convert directly.
    coalesce(make_timestamp(epoch_us(a.occurred_at) + h.offset_us), timezone('Europe/Paris', a.occurred_at))
        AS occurred_local,
    a.practice_id, a.mailbox, a.holder_name, a.actor, a.action, a.outcome, a.attribution, a.right_needed,
    a.auth_method, a.is_before_recording, a.delegate_role
FROM attributed_access AS a
LEFT JOIN paris_hour AS h ON h.utc_hour = epoch_us(a.occurred_at) // 3600000000
WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
