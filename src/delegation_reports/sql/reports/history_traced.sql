-- Grain: one row: the first and last instants traced for the mailbox, from the events of the
-- days around its first and last days with traces ([$first_from_at, $first_until_at) and
-- [$last_from_at, $last_until_at)): constant bounds on the time, which skip the row groups of
-- every other day.
SELECT
    (SELECT min(occurred_at) FROM audit_event
     WHERE occurred_at >= $first_from_at AND occurred_at < $first_until_at AND mailbox = $mailbox) AS traced_from_at,
    (SELECT max(occurred_at) FROM audit_event
     WHERE occurred_at >= $last_from_at AND occurred_at < $last_until_at AND mailbox = $mailbox) AS traced_to_at
