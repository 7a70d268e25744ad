-- Grain: one row per audit event of the window [$from_at, $until_at), attributed (see
-- `attributed_access`), with the columns the rules read. Built in memory once per month
-- rebuilt, so that each rule reads a narrow table instead of attributing the month again.
SELECT
    operator, event_id, occurred_at, occurred_local, practice_id, mailbox, holder_name, actor,
    action, outcome, attribution, right_needed
FROM attributed_access
WHERE occurred_at >= $from_at AND occurred_at < $until_at
