-- Grain: one row per Paris day of the window with actions on the mailbox, split between the
-- holder and everyone else.
SELECT
    CAST(occurred_local AS DATE) AS day,
    count(*) FILTER (actor = $mailbox) AS n_holder,
    count(*) FILTER (actor <> $mailbox) AS n_others
FROM practice_access
-- Only the row groups of the practices the mailbox's events can belong to
-- (history_practice_keys.sql), in each month.
WHERE practice_key IN (SELECT unnest($practice_keys::VARCHAR[]))
  AND mailbox = $mailbox AND occurred_at >= $from_at AND occurred_at < $until_at AND outcome = 'success'
GROUP BY ALL
ORDER BY day
