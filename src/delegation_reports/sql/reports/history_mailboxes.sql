-- Grain: one row per BAL PER whose history a batch renders: the holders on the rosters (of
-- practice $practice_id only, when it is given), and, for the whole warehouse, every mailbox a
-- delegation names.
SELECT member AS mailbox
FROM roster_member
WHERE member_kind = 'holder' AND ($practice_id IS NULL OR practice_id = $practice_id)
UNION
SELECT mailbox
FROM delegation_event
WHERE $practice_id IS NULL
ORDER BY mailbox
