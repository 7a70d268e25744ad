-- Grain: one row per delegation period of a mailbox, oldest first; open bounds are NULL.
SELECT mailbox, delegate, delegate_name, delegate_role, rights,
       CASE WHEN in_force_from_at > unbounded_from() THEN in_force_from_at END AS in_force_from_at,
       CASE WHEN in_force_until_at < unbounded_until() THEN in_force_until_at END AS in_force_until_at,
       started_earliest_at, started_latest_at, valid_from_at, valid_until_at,
       ended_earliest_at, ended_latest_at, revoked_at, revoked_by, granted_by, source,
       source_event_id, operator
FROM delegation_period
WHERE mailbox = $mailbox
ORDER BY coalesce(started_latest_at, valid_from_at), delegate
