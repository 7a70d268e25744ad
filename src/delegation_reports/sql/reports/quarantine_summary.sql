-- Grain: one row per (operator, kind, reason) of quarantined rows in the files the practice's
-- report rests on. Counts only: the rows themselves may concern other practices.
SELECT f.operator, f.kind, q.reason, count(*) AS n_rows
FROM quarantine AS q
JOIN ingest_file AS f USING (file_id)
WHERE f.file_id IN (SELECT unnest($file_ids::INTEGER[]))
GROUP BY ALL
ORDER BY f.operator NULLS FIRST, f.kind, q.reason
