-- Grain: one row per audit event, with its practice (the holder's, or for a holder on several
-- practices the one where the actor works with them: `member_practice`), the mailbox holder,
-- and one attribution: owner, system, delegate_authorised, delegate_beyond_rights, delegate_outside_period,
-- delegate_after_revocation, no_delegation.
--
-- A view, not a copy: attributing a month is one hash join against `delegation_segment`
-- (small) and costs less than writing the month again. Filter on `occurred_at` (the table
-- is scanned by time); `month` is the Paris month, for grouping. Only persistent objects are
-- referenced, so that any DuckDB client can read it.
SELECT
    CAST(date_trunc('month', timezone('Europe/Paris', e.occurred_at)) AS DATE) AS month,
    e.operator,
    e.event_id,
    e.occurred_at,
    timezone('Europe/Paris', e.occurred_at) AS occurred_local,
    coalesce(mp.practice_id, m.practice_id) AS practice_id,
    e.mailbox,
    m.holder_name,
    e.actor,
    e.action,
    e.outcome,
    e.auth_method,
    e.client_ip,
    e.user_agent,
    e.session_id,
    e.message_id,
    CASE
        WHEN e.actor = e.mailbox THEN 'owner'
        WHEN sa.actor IS NOT NULL THEN 'system'
        WHEN s.mailbox IS NULL THEN 'no_delegation'
        WHEN CASE r.right_needed
                 WHEN 'read' THEN s.may_read
                 WHEN 'send' THEN s.may_send
                 WHEN 'documents' THEN s.may_documents
                 WHEN 'manage' THEN s.may_manage
             END THEN 'delegate_authorised'
        WHEN s.is_in_force THEN 'delegate_beyond_rights'
        WHEN s.is_after_revocation THEN 'delegate_after_revocation'
        ELSE 'delegate_outside_period'
    END AS attribution,
    coalesce(s.role_in_force, s.last_role) AS delegate_role,
    s.rights_in_force,
    r.right_needed,
    -- Inside a delegation's declared validity, before the delegation was recorded.
    coalesce(s.is_before_recording, false) AS is_before_recording,
    -- The delegation the access is judged against (see delegation_segment).
    s.judged_against,
    -- The segment of `delegation_segment` the event falls in (with mailbox and actor).
    s.seg_from_at
FROM audit_event AS e
CROSS JOIN LATERAL (
    -- The right an action needs from a délégataire.
    SELECT CASE e.action
        WHEN 'send' THEN 'send'
        WHEN 'download' THEN 'documents'
        WHEN 'delete' THEN 'manage'
        WHEN 'move' THEN 'manage'
        ELSE 'read'
    END AS right_needed
) AS r
LEFT JOIN mailbox_practice AS m ON m.mailbox = e.mailbox
LEFT JOIN member_practice AS mp ON mp.mailbox = e.mailbox AND mp.actor = e.actor
LEFT JOIN system_account AS sa ON sa.actor = e.actor
LEFT JOIN delegation_segment AS s
    ON s.mailbox = e.mailbox AND s.delegate = e.actor
   AND e.occurred_at >= s.seg_from_at AND e.occurred_at < s.seg_until_at
   AND e.actor <> e.mailbox
