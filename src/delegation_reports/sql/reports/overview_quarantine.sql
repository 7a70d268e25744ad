-- Grain: one row per (operator, kind, reason) of quarantined input rows, all files.
SELECT f.operator, f.kind, q.reason, count(*) AS n_rows, count(DISTINCT q.file_id) AS n_files
FROM quarantine AS q
JOIN ingest_file AS f USING (file_id)
GROUP BY ALL
ORDER BY f.operator NULLS FIRST, f.kind, q.reason
