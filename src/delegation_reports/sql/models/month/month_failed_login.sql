-- Grain: one row per failed login of the events a day either side of the window
-- ($margin_from_at, $margin_until_at), with its practice, the mailbox's holder and the
-- practice's `failed_login_burst` thresholds (from `month_setting`): what
-- `month_failure_episode` groups into episodes. Whoever fails counts, whatever their
-- delegation: the holder's own account is the one attacked. Kept in memory: the episodes read
-- it several times, and it is small.
SELECT a.mailbox, a.actor, a.occurred_at, a.event_id, a.client_ip, a.auth_method,
    practice_of(m.practice_id, mp.practice_id) AS practice_id, m.holder_name,
    t.failure_threshold AS threshold, t.slow_failures
FROM audit_event AS a
LEFT JOIN mailbox_practice AS m ON m.mailbox = a.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = a.mailbox AND mp.actor = a.actor
JOIN month_setting AS t ON t.practice_id IS NOT DISTINCT FROM practice_of(m.practice_id, mp.practice_id)
WHERE a.occurred_at >= $margin_from_at AND a.occurred_at < $margin_until_at
  AND (a.action = 'login_failed' OR (a.action = 'login' AND a.outcome = 'failure'))
