-- Grain: one row per delegation event that contradicts the history before it: a revocation or
-- modification of nothing, a grant over a delegation still in force, a modification after a
-- revocation. Kept as data-quality findings, never silently resolved.
WITH ordered AS (
    SELECT *,
        lag(event_type) OVER (PARTITION BY mailbox, delegate ORDER BY event_at, event_id) AS prev_type
    FROM delegation_event
)
SELECT
    operator, event_id, event_type, event_at, mailbox, delegate, performed_by,
    CASE
        WHEN event_type = 'revoke' AND prev_type IS NULL THEN 'revoke_without_grant'
        WHEN event_type = 'revoke' AND prev_type = 'revoke' THEN 'revoke_after_revoke'
        WHEN event_type = 'modify' AND prev_type IS NULL THEN 'modify_without_grant'
        WHEN event_type = 'modify' AND prev_type = 'revoke' THEN 'modify_after_revoke'
        WHEN event_type = 'grant' AND prev_type IN ('grant', 'modify') THEN 'overlapping_grant'
    END AS issue
FROM ordered
WHERE (event_type = 'revoke' AND (prev_type IS NULL OR prev_type = 'revoke'))
   OR (event_type = 'modify' AND (prev_type IS NULL OR prev_type = 'revoke'))
   OR (event_type = 'grant' AND prev_type IN ('grant', 'modify'))
