-- Grain: one row per input file the practice's report rests on: the audit and delegation files
-- of the operators serving the practice's mailboxes, and the rosters and directory extractions.
WITH practice_operators AS (
    -- The operators of the mailboxes' traces, from the monthly days with traces (every
    -- covered month's are kept up to date): the events themselves would be scanned whole.
    SELECT DISTINCT operator FROM mailbox_day
    WHERE mailbox IN (SELECT mailbox FROM mailbox_practice WHERE practice_id = $practice_id)
    UNION
    SELECT DISTINCT operator FROM delegation_event
    WHERE mailbox IN (SELECT mailbox FROM mailbox_practice WHERE practice_id = $practice_id)
    UNION
    SELECT DISTINCT operator FROM delegation_snapshot
    WHERE mailbox IN (SELECT mailbox FROM mailbox_practice WHERE practice_id = $practice_id)
)
SELECT file_id, file_name, sha256, kind, format, operator, rows_read, rows_loaded,
       rows_duplicate, rows_quarantined, covered_from_at, covered_to_at, started_at
FROM ingest_file
WHERE operator IN (SELECT operator FROM practice_operators)
   OR kind IN ('roster', 'directory')
ORDER BY kind, operator, file_name
