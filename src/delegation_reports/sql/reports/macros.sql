-- Helpers of the reports' queries (DuckDB only: no model reads them), created on every
-- connection with the models' (`create_model_macros`).

-- The practice keys a mailbox's events can have (as `attributed_access` gives their practice:
-- the holder's, those of the accounts working with a holder on several practices, none for a
-- mailbox on no roster): `practice_key IN (SELECT practice_key FROM mailbox_practice_keys(m))`
-- reads only their row groups of `practice_access`.
CREATE OR REPLACE TEMP MACRO mailbox_practice_keys(mb) AS TABLE
    SELECT practice_key(practice_id) AS practice_key FROM mailbox_practice WHERE mailbox = mb
    UNION SELECT practice_key(practice_id) FROM member_practice WHERE mailbox = mb
    UNION SELECT practice_key(NULL) WHERE NOT EXISTS (SELECT 1 FROM mailbox_practice WHERE mailbox = mb);
