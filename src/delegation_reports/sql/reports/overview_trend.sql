-- Grain: one row per month of the twelve up to the report's month that has findings, by severity
-- (accepted findings are exceptions, not alerts: not counted).
SELECT month,
       count(*) FILTER (severity = 'critical') AS n_critical,
       count(*) FILTER (severity = 'warning') AS n_warning,
       count(*) FILTER (severity = 'info') AS n_info
FROM finding_status
WHERE status <> 'accepted' AND month > $month - INTERVAL 12 MONTH AND month <= $month
GROUP BY month
ORDER BY month
