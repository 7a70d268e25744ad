-- Grain: one row per rule with findings in the month, by severity.
-- Accepted findings are exceptions, not alerts: not counted.
SELECT rule_id, any_value(title_fr) AS title_fr,
       rule_text(NULL, rule_id, 'label') AS rule_label,
       rule_text(NULL, rule_id, 'who') AS rule_who,
       count(*) FILTER (severity = 'critical') AS n_critical,
       count(*) FILTER (severity = 'warning') AS n_warning,
       count(*) FILTER (severity = 'info') AS n_info,
       count(DISTINCT practice_id) AS n_practices
FROM finding_status
WHERE status <> 'accepted' AND month = $month
GROUP BY rule_id
ORDER BY n_critical DESC, n_warning DESC, n_info DESC, rule_id
