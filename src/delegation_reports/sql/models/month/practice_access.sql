-- Grain: one row per audit event of the month [$from_at, $until_at), with the columns and
-- values `attributed_access` gives it, less `judged_against`: the delegation an access is
-- judged against is the same for every event of its segment (`delegation_segment`, by
-- mailbox, delegate and `seg_from_at`, which are kept), no report reads it, and writing it
-- with each event would double the cost of this step.
-- Stored, not in memory: the month's slice of the `practice_access` table, replaced with the
-- month's findings, for the reports. Written in practice, mailbox and time order: each
-- practice's rows of the month lie in a few consecutive row groups, whose bounds let a query
-- on one practice and month skip the others (a few milliseconds whatever the size of the
-- warehouse), where the view would attribute the whole month first.
-- Its columns are named (not `* EXCLUDE`), so that the model builds for other engines.
SELECT month, operator, event_id, occurred_at, occurred_local, practice_id, mailbox, holder_name,
    actor, action, outcome, auth_method, client_ip, user_agent, session_id, message_id,
    attribution, delegate_role, rights_in_force, right_needed, is_before_recording, seg_from_at
FROM attributed_access
WHERE occurred_at >= $from_at AND occurred_at < $until_at
ORDER BY practice_id, mailbox, occurred_at, event_id
