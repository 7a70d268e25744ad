-- Grain: one row per (Paris month, actor) with actions on the mailbox in the window.
SELECT
    month,
    actor,
    actor = $mailbox AS is_holder,
    -- The most telling attribution of the month: a single action without right shows.
    max_by(attribution, CASE attribution
        WHEN 'no_delegation' THEN 5 WHEN 'delegate_after_revocation' THEN 4
        WHEN 'delegate_outside_period' THEN 3 WHEN 'delegate_beyond_rights' THEN 2
        WHEN 'delegate_authorised' THEN 1 ELSE 0 END) AS attribution,
    count(*) FILTER (action = 'read') AS n_read,
    count(*) FILTER (action = 'send') AS n_send,
    count(*) FILTER (action = 'delete') AS n_delete,
    count(*) FILTER (action = 'download') AS n_download,
    count(*) FILTER (action NOT IN ('read', 'send', 'delete', 'download')) AS n_other,
    count(*) FILTER (attribution NOT IN ('owner', 'system', 'delegate_authorised')) AS n_not_entitled,
    min(occurred_at) AS first_at,
    max(occurred_at) AS last_at
FROM practice_access
-- Only the row groups of the practices the mailbox's events can belong to
-- (history_practice_keys.sql), in each month.
WHERE practice_key IN (SELECT unnest($practice_keys::VARCHAR[]))
  AND mailbox = $mailbox AND occurred_at >= $from_at AND occurred_at < $until_at AND outcome = 'success'
GROUP BY month, actor
ORDER BY month, is_holder DESC, actor
