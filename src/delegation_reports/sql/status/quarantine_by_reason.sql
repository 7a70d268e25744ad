-- Grain: one row per operator, kind and quarantine reason.
SELECT f.operator, f.kind, q.reason, count(*) AS n_rows
FROM quarantine AS q
JOIN ingest_file AS f USING (file_id)
GROUP BY ALL
ORDER BY f.operator NULLS FIRST, f.kind, q.reason
