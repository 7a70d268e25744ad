-- Grain: one row per account of the audit data that matches a configured service-account
-- pattern (`system_actors`). Matched on distinct accounts, a few hundred pattern tests; read
-- from the events of the files after $after_file_id (every file: -1), the refresh adding
-- those of new files only (see `_refresh_system_accounts`).
SELECT DISTINCT a.actor
FROM (SELECT DISTINCT actor FROM audit_event WHERE source_file_id > $after_file_id) AS a
JOIN cfg_system_actor AS s ON a.actor GLOB s.pattern
