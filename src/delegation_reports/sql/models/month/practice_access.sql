-- Grain: one row per audit event of the month [$from_at, $until_at), with exactly the columns
-- and values `attributed_access` gives it. Stored, not in memory: the month's slice of the
-- `practice_access` table, replaced with the month's findings, for the reports.
-- Written in practice, mailbox and time order: each practice's rows of the month lie in a few
-- consecutive row groups, whose bounds let a query on one practice and month skip the others
-- (a few milliseconds whatever the size of the warehouse), where the view would attribute the
-- whole month first.
SELECT *
FROM attributed_access
WHERE occurred_at >= $from_at AND occurred_at < $until_at
ORDER BY practice_id, mailbox, occurred_at, event_id
