-- Grain: one row per review decision (review_id), in the order they were recorded, optionally
-- of one finding.
SELECT review_id, finding_id, decision, reason, decided_by, decided_at, valid_until,
       rule_id, practice_id, mailbox, actor, delegation_key, delegation_ids
FROM finding_review
WHERE $finding_id IS NULL OR finding_id = $finding_id
ORDER BY review_id
