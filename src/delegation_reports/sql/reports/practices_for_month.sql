-- Grain: one row per practice on the roster, with its findings of the month by severity.
SELECT
    r.practice_id,
    min(r.practice_name) AS practice_name,
    (SELECT count(*) FROM finding AS f WHERE f.month = $month AND f.practice_id = r.practice_id AND f.severity = 'critical') AS n_critical,
    (SELECT count(*) FROM finding AS f WHERE f.month = $month AND f.practice_id = r.practice_id AND f.severity = 'warning') AS n_warning,
    (SELECT count(*) FROM finding AS f WHERE f.month = $month AND f.practice_id = r.practice_id AND f.severity = 'info') AS n_info
FROM roster_member AS r
GROUP BY r.practice_id
ORDER BY r.practice_id
