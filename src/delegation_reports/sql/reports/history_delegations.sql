-- Grain: one row per delegation period of the mailbox overlapping the window.
SELECT
    coalesce(p.delegate_name, p.delegate) AS delegate_name, p.delegate, p.delegate_role, p.rights,
    greatest(p.in_force_from_at, $from_at) AS shown_from_at,
    least(p.in_force_until_at, $until_at) AS shown_until_at,
    CASE WHEN p.in_force_from_at > unbounded_from() THEN p.in_force_from_at END AS in_force_from_at,
    CASE WHEN p.in_force_until_at < unbounded_until() THEN p.in_force_until_at END AS in_force_until_at,
    p.granted_by, p.revoked_at, p.revoked_by, p.source,
    coalesce(m.holder_name, p.mailbox) AS holder
FROM delegation_period AS p
LEFT JOIN mailbox_practice AS m USING (mailbox)
WHERE p.mailbox = $mailbox AND p.in_force_from_at < $until_at AND p.in_force_until_at > $from_at
ORDER BY p.in_force_from_at, delegate_name
