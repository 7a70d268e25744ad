-- Grain: one row per Paris day of the window with actions on the mailbox, split between the
-- holder and everyone else.
SELECT
    CAST(occurred_local AS DATE) AS day,
    count(*) FILTER (actor = $mailbox) AS n_holder,
    count(*) FILTER (actor <> $mailbox) AS n_others
FROM practice_access
-- The practices the mailbox's events can belong to (as `attributed_access` gives them: its
-- holder's, those of the accounts working with a holder on several practices, none for a
-- mailbox on no roster): only their row groups of each month are read.
WHERE practice_key IN (
        SELECT practice_key(practice_id) FROM mailbox_practice WHERE mailbox = $mailbox
        UNION SELECT practice_key(practice_id) FROM member_practice WHERE mailbox = $mailbox
        UNION SELECT practice_key(NULL)
        WHERE NOT EXISTS (SELECT 1 FROM mailbox_practice WHERE mailbox = $mailbox))
  AND mailbox = $mailbox AND occurred_at >= $from_at AND occurred_at < $until_at AND outcome = 'success'
GROUP BY ALL
ORDER BY day
