-- Grain: one row per (mailbox, account) where the mailbox's holder is on the rosters of several
-- practices and the account is on the roster of one of them with the holder: the practice
-- that account's work in the mailbox belongs to (its report, its opening hours). Every other
-- account's work in the mailbox belongs to the holder's first practice (`mailbox_practice`).
WITH shared_holder AS (
    SELECT member AS mailbox
    FROM roster_member
    WHERE member_kind = 'holder'
    GROUP BY member
    HAVING count(DISTINCT practice_id) > 1
)
SELECT h.member AS mailbox, s.member AS actor,
    -- NOTE: an account on two of the holder's practices with them goes to the first one.
    min(h.practice_id) AS practice_id
FROM roster_member AS h
JOIN roster_member AS s ON s.practice_id = h.practice_id AND s.member <> h.member
WHERE h.member_kind = 'holder' AND h.member IN (SELECT mailbox FROM shared_holder)
GROUP BY h.member, s.member
