-- Grain: one row per change to a delegation of the practice's mailboxes during the month:
-- operator events as recorded, and changes seen between two snapshots (dated by interval).
SELECT
    e.event_at AS changed_at,
    NULL::TIMESTAMPTZ AS changed_earliest_at,
    e.event_type AS change,
    coalesce(m.holder_name, e.mailbox) AS holder,
    -- A revocation often carries no name: take the one the delegation was given with.
    coalesce(e.delegate_name,
             (SELECT any_value(n.delegate_name) FROM delegation_event AS n
              WHERE n.mailbox = e.mailbox AND n.delegate = e.delegate AND n.delegate_name IS NOT NULL),
             e.delegate) AS delegate_name,
    e.delegate,
    e.delegate_role,
    e.rights,
    e.performed_by,
    'events' AS source
FROM delegation_event AS e
JOIN mailbox_practice AS m USING (mailbox)
-- A holder on several practices: the delegation belongs to the délégataire's practice.
LEFT JOIN member_practice AS mp ON mp.mailbox = e.mailbox AND mp.actor = e.delegate
WHERE coalesce(mp.practice_id, m.practice_id) = $practice_id AND e.event_at >= $from_at AND e.event_at < $until_at
UNION ALL
SELECT
    p.started_latest_at, p.started_earliest_at, 'grant',
    coalesce(m.holder_name, p.mailbox), coalesce(p.delegate_name, p.delegate), p.delegate,
    p.delegate_role, p.rights, NULL, 'snapshots'
FROM delegation_period AS p
JOIN mailbox_practice AS m USING (mailbox)
LEFT JOIN member_practice AS mp ON mp.mailbox = p.mailbox AND mp.actor = p.delegate
WHERE p.source = 'snapshots' AND coalesce(mp.practice_id, m.practice_id) = $practice_id
  AND p.started_earliest_at IS NOT NULL
  AND p.started_latest_at >= $from_at AND p.started_latest_at < $until_at
UNION ALL
SELECT
    p.ended_latest_at, p.ended_earliest_at, 'revoke',
    coalesce(m.holder_name, p.mailbox), coalesce(p.delegate_name, p.delegate), p.delegate,
    p.delegate_role, p.rights, NULL, 'snapshots'
FROM delegation_period AS p
JOIN mailbox_practice AS m USING (mailbox)
LEFT JOIN member_practice AS mp ON mp.mailbox = p.mailbox AND mp.actor = p.delegate
WHERE p.source = 'snapshots' AND coalesce(mp.practice_id, m.practice_id) = $practice_id
  AND p.revoked_at IS NOT NULL
  AND p.ended_latest_at >= $from_at AND p.ended_latest_at < $until_at
ORDER BY 1, holder, delegate_name
