-- Grain: one new row of `finding_review`: a decision on a finding, with the finding and its
-- delegation as they stand in the latest month that has the finding. No row when no month
-- has the finding.
INSERT INTO finding_review (
    finding_id, decision, reason, decided_by, decided_at, valid_until,
    rule_id, practice_id, mailbox, actor, delegation_key, delegation_ids)
SELECT
    finding_id, $decision, $reason, $decided_by, $decided_at, $valid_until,
    rule_id, practice_id, mailbox, actor, delegation_key, delegation_ids
FROM finding
WHERE finding_id = $finding_id
ORDER BY month DESC
LIMIT 1
RETURNING *
