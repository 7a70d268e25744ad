-- Grain: one row per ingested file, newest first.
SELECT file_id, file_name, sha256, kind, format, operator, rows_read, rows_loaded,
       rows_duplicate, rows_quarantined, covered_from_at, covered_to_at, started_at, notes
FROM ingest_file
ORDER BY file_id DESC
