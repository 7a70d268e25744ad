-- Grain: one row per audit event of the month [$from_at, $until_at), with the columns and
-- values `attributed_access` gives it, less `judged_against`: the delegation an access is
-- judged against is the same for every event of its segment (`delegation_segment`, by
-- mailbox, delegate and `seg_from_at`, which are kept), no report reads it, and writing it
-- with each event would double the cost of this step.
-- Stored, not in memory: the month's slice of the `practice_access` table, replaced with the
-- month's findings, for the reports. Written in one ordered write per month, by practice
-- (its `practice_key`, then its id), mailbox and time: each practice's rows of the month lie
-- in a few consecutive row groups, whose bounds (on `practice_key` and `occurred_at`) let a
-- query on one practice and month skip the others, whatever the practice ids look like and
-- however many months the table holds (a few milliseconds whatever the size of the
-- warehouse), where the view would attribute the whole month first. A query on one practice
-- filters on `practice_key = practice_key($practice_id)` as well as on the practice: a
-- constant comparison on the stored column, which is what row groups are skipped by.
-- Its columns are named (not `* EXCLUDE`), so that the model builds for other engines.
SELECT month, operator, event_id, occurred_at, occurred_local, practice_id, mailbox, holder_name,
    actor, action, outcome, auth_method, client_ip, user_agent, session_id, message_id,
    attribution, delegate_role, rights_in_force, right_needed, is_before_recording, seg_from_at,
    practice_key(practice_id) AS practice_key
FROM attributed_access
WHERE occurred_at >= $from_at AND occurred_at < $until_at
ORDER BY practice_key, practice_id, mailbox, occurred_at, event_id
