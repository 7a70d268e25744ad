-- Grain: one row per operator and kind of data held: rows and the period they cover.
SELECT 'audit' AS kind, operator, count(*) AS n_rows,
       min(occurred_at) AS covered_from_at, max(occurred_at) AS covered_to_at
FROM audit_event GROUP BY operator
UNION ALL
SELECT 'delegations', operator, count(*), min(event_at), max(event_at)
FROM delegation_event GROUP BY operator
UNION ALL
SELECT 'snapshot', operator, count(*), min(as_of_at), max(as_of_at)
FROM delegation_snapshot GROUP BY operator
UNION ALL
SELECT 'roster', NULL, count(*), NULL, NULL FROM roster_member HAVING count(*) > 0
UNION ALL
SELECT 'directory', NULL, count(*), min(extracted_at), max(extracted_at)
FROM directory_entry HAVING count(*) > 0
ORDER BY kind, operator NULLS FIRST
