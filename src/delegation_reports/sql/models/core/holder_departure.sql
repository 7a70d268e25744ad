-- Grain: one row per time a BAL PER held by a practitioner of a practice disappeared from the
-- national directory extraction (`directory_change`): from `left_at` (the first extraction
-- without it) until it came back (`back_at`, the first extraction listing it again), if ever.
-- A délégataire acting in the mailbox in between acts for someone who has left.
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
    previous_extracted_at AS last_listed_at,
    extracted_at AS left_at,
    CASE WHEN next_change = 'appeared' THEN next_change_at END AS back_at,
    'directory' AS source
FROM ordered
WHERE change = 'disappeared'
