-- Grain: one row for the practice: its name and its BAL PER holders.
SELECT
    practice_id,
    min(practice_name) AS practice_name,
    list(DISTINCT member ORDER BY member) FILTER (member_kind = 'holder') AS holders
FROM roster_member
WHERE practice_id = $practice_id
GROUP BY practice_id
