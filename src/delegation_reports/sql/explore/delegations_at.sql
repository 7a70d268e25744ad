-- Grain: one row per delegation period of a mailbox in force at an instant.
SELECT mailbox, delegate, delegate_name, delegate_role, rights, in_force_from_at,
       in_force_until_at, revoked_at, granted_by, source
FROM delegation_period
WHERE mailbox = $mailbox AND $at >= in_force_from_at AND $at < in_force_until_at
ORDER BY delegate
