-- Grain: one row per attributed event cited as evidence by a finding, with the delegation
-- period of that actor on that mailbox in force at the event (NULL when none was).
WITH f AS (
    SELECT month, mailbox, actor, unnest(evidence) AS event_id FROM finding WHERE finding_id = $finding_id
)
SELECT
    a.event_id, a.occurred_at, a.occurred_local, a.practice_id, a.mailbox, a.actor, a.action,
    a.outcome, a.auth_method, a.client_ip, a.user_agent, a.session_id, a.attribution,
    a.delegate_role, a.rights_in_force, a.right_needed,
    p.delegate_role AS period_role, p.rights AS period_rights, p.in_force_from_at AS period_from_at,
    p.in_force_until_at AS period_until_at, p.revoked_at AS period_revoked_at, p.source AS period_source
FROM f
JOIN attributed_access AS a ON a.month = f.month AND a.event_id = f.event_id AND a.mailbox = f.mailbox
LEFT JOIN delegation_period AS p
    ON p.mailbox = a.mailbox AND p.delegate = a.actor
   AND a.occurred_at >= p.in_force_from_at AND a.occurred_at < p.in_force_until_at
ORDER BY a.occurred_at, a.event_id
