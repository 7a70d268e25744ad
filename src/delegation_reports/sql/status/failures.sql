-- Grain: one row per attempt to load a file that failed as a whole, newest first;
-- `loaded_since` tells whether the same file was loaded by a later attempt.
SELECT f.file_name, f.path, f.sha256, f.kind, f.format, f.n_lines, f.reason, f.started_at,
       EXISTS (
           SELECT 1 FROM ingest_file AS i
           WHERE i.sha256 = f.sha256 AND i.started_at >= f.started_at
       ) AS loaded_since
FROM ingest_failure AS f
ORDER BY f.started_at DESC
