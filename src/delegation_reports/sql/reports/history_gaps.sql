-- Grain: one row per audit gap concerning the mailbox in the window's months: its own
-- silences, and the missing days of the operators serving its practice.
SELECT DISTINCT explanation_fr, first_at
FROM finding
WHERE rule_id = 'audit_gap' AND month >= $first_month AND month <= $last_month
  AND (mailbox = $mailbox
       OR (mailbox IS NULL
           AND practice_id = (SELECT practice_id FROM mailbox_practice WHERE mailbox = $mailbox)))
ORDER BY first_at
