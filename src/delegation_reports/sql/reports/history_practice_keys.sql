-- Grain: one row per practice key the mailbox's events can have in `practice_access` (as
-- `attributed_access` gives their practice: its holder's, those of the accounts working with
-- a holder on several practices, none for a mailbox on no roster). The history's queries on
-- `practice_access` filter `practice_key IN (SELECT unnest($practice_keys))`: they read only
-- those practices' row groups of each month.
SELECT practice_key(practice_id) AS practice_key FROM mailbox_practice WHERE mailbox = $mailbox
UNION SELECT practice_key(practice_id) FROM member_practice WHERE mailbox = $mailbox
UNION SELECT practice_key(NULL) WHERE NOT EXISTS (SELECT 1 FROM mailbox_practice WHERE mailbox = $mailbox)
ORDER BY 1
