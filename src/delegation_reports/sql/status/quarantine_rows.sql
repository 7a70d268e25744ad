-- Grain: one row per quarantined input row, filtered by file (sha256 or path) and reason.
SELECT f.file_name, f.path, q.file_sha256, q.line_number, q.reason, q.detail, q.raw_text,
       q.quarantined_at
FROM quarantine AS q
JOIN ingest_file AS f USING (file_id)
WHERE ($file IS NULL OR q.file_sha256 LIKE $file || '%' OR f.path = $file OR f.file_name = $file)
  AND ($reason IS NULL OR q.reason = $reason)
ORDER BY f.file_id, q.line_number
