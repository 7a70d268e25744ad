-- Grain: one row per trace cited by a finding of the practice's month: an audit event (an
-- access to the mailbox), or a delegation event for a finding about a delegation. Findings
-- most severe first, as the report lists them, then their traces in time order.
-- $from_at and $until_at bound the audit events the month's rules read (a day either side of
-- the month): every cited access lies in between. Those of the month ($month_from_at to
-- $month_until_at) are read from its stored slice, those of the margins from the view.
WITH f AS (
    -- `k` tells findings apart: two findings of one rule may share an id (the new address and
    -- the new software of one first access).
    SELECT row_number() OVER () AS k, finding_id, rule_id, severity, status, practice_id, mailbox, actor, first_at, title_fr,
        evidence,
        CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END AS severity_rank,
        rule_text(practice_id, rule_id, 'label') AS rule_label
    FROM finding_status
    WHERE month = $month AND practice_id = $practice_id
),
cited AS (
    SELECT k, mailbox, unnest(evidence) AS event_id FROM f
),
-- The practices the cited mailboxes' events can belong to (as `attributed_access` gives them:
-- the holder's, those of the accounts working with a holder on several practices, none for a
-- mailbox on no roster): only their row groups of the month's stored accesses are read.
cited_keys AS (
    SELECT practice_key(practice_id) AS k FROM mailbox_practice WHERE mailbox IN (SELECT mailbox FROM f)
    UNION SELECT practice_key(practice_id) FROM member_practice WHERE mailbox IN (SELECT mailbox FROM f)
    UNION SELECT practice_key(NULL)
    WHERE EXISTS (SELECT 1 FROM f WHERE mailbox NOT IN (SELECT mailbox FROM mailbox_practice))
),
accesses AS (
    SELECT * EXCLUDE (practice_key) FROM practice_access
    WHERE practice_key IN (SELECT k FROM cited_keys)
      AND occurred_at >= $month_from_at AND occurred_at < $month_until_at
    UNION ALL
    -- Both margins in one read of the view: each of its reads costs the query's planning
    -- (binding the view) as much as executing it.
    SELECT * EXCLUDE (judged_against) FROM attributed_access
    WHERE (occurred_at >= $from_at AND occurred_at < $month_from_at)
       OR (occurred_at >= $month_until_at AND occurred_at < $until_at)
),
traces AS (
    SELECT c.k, 'access' AS kind, a.event_id, a.occurred_at AS at, a.operator,
        a.actor AS account, fr_action(a.action) AS action, a.outcome, fr_auth(a.auth_method) AS auth,
        a.client_ip, a.user_agent, a.session_id, a.attribution,
        nullif(fr_rights(coalesce(a.rights_in_force, [])), '') AS rights,
        CASE WHEN a.right_needed IS NOT NULL THEN fr_rights([a.right_needed]) END AS right_needed,
        NULL::VARCHAR AS performed_by
    FROM cited AS c
    JOIN accesses AS a ON a.mailbox = c.mailbox AND a.event_id = c.event_id
    UNION ALL
    SELECT c.k, 'delegation', d.event_id, d.event_at, d.operator,
        d.delegate, d.event_type, NULL, NULL,
        NULL, NULL, NULL, NULL,
        nullif(fr_rights(coalesce(d.rights, [])), ''), NULL,
        d.performed_by
    FROM cited AS c
    JOIN delegation_event AS d ON d.mailbox = c.mailbox AND d.event_id = c.event_id
)
SELECT f.finding_id, f.severity, f.rule_id, f.rule_label, f.title_fr, f.status, f.mailbox,
    t.kind, t.event_id, t.at, t.account, t.action, t.outcome, t.auth, t.client_ip,
    t.user_agent, t.session_id, t.attribution, t.rights, t.right_needed, t.performed_by, t.operator
FROM f
JOIN traces AS t USING (k)
ORDER BY f.severity_rank, f.first_at NULLS LAST, f.rule_id, f.finding_id, f.k, t.at, t.event_id
