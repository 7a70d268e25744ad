-- Grain: one row per gap in an audit file's coverage (file_id + after_at): the months strictly
-- between its last event before the gap and its first after it are not covered by the file.
SELECT g.file_id, f.file_name, g.after_at, g.before_at
FROM ingest_file_gap AS g
JOIN ingest_file AS f ON f.file_id = g.file_id
ORDER BY g.file_id, g.after_at
