-- Grain: one row per month of the twelve up to the report's month, months without findings
-- included (zeros), by severity (accepted findings are exceptions, not alerts: not counted);
-- has_traces says whether the warehouse holds any audit trace of that month (a month without
-- any is not a month without alerts).
WITH months AS (
    SELECT CAST(m AS DATE) AS month
    FROM range(CAST($month AS DATE) - INTERVAL 11 MONTH, CAST($month AS DATE) + INTERVAL 1 MONTH, INTERVAL 1 MONTH) AS t(m)
),
counts AS (
    SELECT month,
           count(*) FILTER (severity = 'critical') AS n_critical,
           count(*) FILTER (severity = 'warning') AS n_warning,
           count(*) FILTER (severity = 'info') AS n_info
    FROM finding_status
    WHERE status <> 'accepted' AND month > $month - INTERVAL 12 MONTH AND month <= $month
    GROUP BY month
),
traced AS (
    SELECT DISTINCT CAST(date_trunc('month', timezone('Europe/Paris', occurred_at)) AS DATE) AS month
    FROM audit_event
    WHERE occurred_at >= CAST($month AS DATE) - INTERVAL 13 MONTH
      AND occurred_at < CAST($month AS DATE) + INTERVAL 2 MONTH
)
SELECT months.month,
       coalesce(counts.n_critical, 0) AS n_critical,
       coalesce(counts.n_warning, 0) AS n_warning,
       coalesce(counts.n_info, 0) AS n_info,
       traced.month IS NOT NULL AS has_traces
FROM months
LEFT JOIN counts USING (month)
LEFT JOIN traced USING (month)
ORDER BY months.month
