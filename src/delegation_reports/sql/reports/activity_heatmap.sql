-- Grain: one row per (Paris weekday, hour) with the number of actions by délégataires and other
-- non-holder accounts on the practice's mailboxes during the month.
SELECT isodow(occurred_local) AS isodow, hour(occurred_local) AS hour, count(*) AS n_actions
FROM practice_access
WHERE practice_key = practice_key($practice_id) AND practice_id = $practice_id
  AND occurred_at >= $from_at AND occurred_at < $until_at
  AND attribution NOT IN ('owner', 'system')
  AND outcome = 'success'
GROUP BY ALL
ORDER BY ALL
