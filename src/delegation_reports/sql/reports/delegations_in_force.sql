-- Grain: one row per delegation period of the practice's mailboxes in force at some time
-- during the month.
SELECT
    p.mailbox,
    coalesce(m.holder_name, p.mailbox) AS holder,
    p.delegate,
    coalesce(p.delegate_name, p.delegate) AS delegate_name,
    p.delegate_role,
    p.rights,
    -- Open bounds (open-ended, or known only from the first snapshot) stay in SQL:
    -- the report shows the period clipped to the month, and says when a bound is open.
    greatest(p.in_force_from_at, $from_at) AS shown_from_at,
    least(p.in_force_until_at, $until_at) AS shown_until_at,
    CASE WHEN p.in_force_from_at > unbounded_from() THEN p.in_force_from_at END AS in_force_from_at,
    CASE WHEN p.in_force_until_at < unbounded_until() THEN p.in_force_until_at END AS in_force_until_at,
    p.valid_from_at,
    p.valid_until_at,
    p.started_earliest_at,
    p.started_latest_at,
    p.revoked_at,
    p.granted_by,
    p.source
FROM delegation_period AS p
JOIN mailbox_practice AS m USING (mailbox)
-- A holder on several practices: the delegation belongs to the délégataire's practice.
LEFT JOIN member_practice AS mp ON mp.mailbox = p.mailbox AND mp.actor = p.delegate
WHERE coalesce(mp.practice_id, m.practice_id) = $practice_id
  AND p.in_force_from_at < $until_at AND p.in_force_until_at > $from_at
ORDER BY holder, p.in_force_from_at, delegate_name
