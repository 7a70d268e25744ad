-- Grain: one row per finding of a month (month + finding_id), with its status in that month:
-- `accepted` while the latest review decision on it is an acceptance whose last day is not
-- before the month's first day and whose delegation has not changed since (the finding rests
-- on no delegation event the decision did not see); otherwise `new` in the first month of its
-- run and `ongoing` after it. An acceptance comes with who decided, when, why and until when.
WITH latest AS (
    SELECT * FROM finding_review
    QUALIFY row_number() OVER (PARTITION BY finding_id ORDER BY review_id DESC) = 1
)
SELECT
    f.*,
    CASE WHEN a.finding_id IS NOT NULL THEN 'accepted'
         WHEN f.first_month < f.month THEN 'ongoing'
         ELSE 'new' END AS status,
    a.decided_by AS accepted_by,
    a.decided_at AS accepted_at,
    a.reason AS accepted_reason,
    a.valid_until AS accepted_until
FROM finding AS f
LEFT JOIN latest AS a
    ON a.finding_id = f.finding_id AND a.decision = 'accept'
   AND (a.valid_until IS NULL OR a.valid_until >= f.month)
   AND list_has_all(coalesce(a.delegation_ids, []::VARCHAR[]), coalesce(f.delegation_ids, []::VARCHAR[]))
