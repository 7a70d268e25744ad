-- Grain: one row per (délégataire or other non-holder account, mailbox) active in the month:
-- actions by kind, first and last access, actions outside opening hours.
WITH off_hours AS (
    SELECT DISTINCT mailbox, actor, unnest(evidence) AS event_id
    FROM finding
    WHERE month = $month AND practice_id = $practice_id AND rule_id = 'off_hours_access'
)
SELECT
    a.mailbox,
    coalesce(any_value(a.holder_name), a.mailbox) AS holder,
    a.actor,
    coalesce(any_value(p.delegate_name), a.actor) AS actor_name,
    any_value(a.delegate_role) AS delegate_role,
    count(*) FILTER (a.action = 'read') AS n_read,
    count(*) FILTER (a.action = 'send') AS n_send,
    count(*) FILTER (a.action = 'delete') AS n_delete,
    count(*) FILTER (a.action = 'move') AS n_move,
    count(*) FILTER (a.action = 'download') AS n_download,
    count(*) FILTER (a.action IN ('login', 'logout', 'other')) AS n_other,
    count(*) FILTER (a.action = 'login_failed' OR a.outcome = 'failure') AS n_failed,
    min(a.occurred_at) FILTER (a.outcome = 'success') AS first_at,
    max(a.occurred_at) FILTER (a.outcome = 'success') AS last_at,
    count(o.event_id) AS n_off_hours,
    count(*) FILTER (a.attribution NOT IN ('delegate_authorised', 'owner', 'system')) AS n_not_entitled
FROM practice_access AS a
LEFT JOIN off_hours AS o ON o.mailbox = a.mailbox AND o.actor = a.actor AND o.event_id = a.event_id
LEFT JOIN (SELECT mailbox, delegate, any_value(delegate_name) AS delegate_name
           FROM delegation_period GROUP BY ALL) AS p
    ON p.mailbox = a.mailbox AND p.delegate = a.actor
WHERE a.practice_key = practice_key($practice_id) AND a.practice_id = $practice_id
  AND a.occurred_at >= $from_at AND a.occurred_at < $until_at
  AND a.attribution NOT IN ('owner', 'system')
GROUP BY a.mailbox, a.actor
ORDER BY holder, actor_name
