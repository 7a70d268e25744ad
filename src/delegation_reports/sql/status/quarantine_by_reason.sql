-- Grain: one row per operator, kind and quarantine reason. The kind is the record's (an access,
-- a delegation change...), else its file's.
SELECT f.operator, coalesce(q.record_kind, f.kind) AS kind, q.reason, count(*) AS n_rows
FROM quarantine AS q
JOIN ingest_file AS f USING (file_id)
GROUP BY ALL
ORDER BY f.operator NULLS FIRST, kind, q.reason
