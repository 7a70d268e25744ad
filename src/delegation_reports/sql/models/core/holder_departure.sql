-- Grain: one row per departure of a BAL PER's holder: its disappearance from the national
-- directory extraction (`directory_change`: from `left_at`, the first extraction without it,
-- until `back_at`, the first one listing it again, if ever), or the end date a practice's
-- roster gives the holder (`member_until`: that practice only). A délégataire acting in the
-- mailbox after it acts for someone who has left.
WITH changes AS (
    SELECT c.address AS mailbox, c.previous_extracted_at, c.extracted_at, c.change
    FROM directory_change AS c
    WHERE c.change IN ('disappeared', 'appeared')
      AND c.address IN (SELECT mailbox FROM mailbox_practice)
),
ordered AS (
    SELECT *,
        lead(extracted_at) OVER (PARTITION BY mailbox ORDER BY extracted_at) AS next_change_at,
        lead(change) OVER (PARTITION BY mailbox ORDER BY extracted_at) AS next_change
    FROM changes
)
SELECT
    mailbox,
    NULL::VARCHAR AS practice_id,
    previous_extracted_at AS last_listed_at,
    extracted_at AS left_at,
    CASE WHEN next_change = 'appeared' THEN next_change_at END AS back_at,
    'directory' AS source
FROM ordered
WHERE change = 'disappeared'
UNION ALL
SELECT
    member AS mailbox,
    practice_id,
    NULL::TIMESTAMPTZ AS last_listed_at,
    min(member_until_at) AS left_at,
    NULL::TIMESTAMPTZ AS back_at,
    'roster' AS source
FROM roster_member
WHERE member_kind = 'holder' AND member_until_at IS NOT NULL
GROUP BY member, practice_id
