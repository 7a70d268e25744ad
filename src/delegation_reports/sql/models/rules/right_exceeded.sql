-- Grain: one finding per (mailbox, actor, Paris day, right) with successful actions that need
-- a right the délégataire's delegation did not give at that moment. Sending in the holder's
-- name or deleting and moving messages takes the rule's severity (critical by default);
-- downloading a document without the `documents` right takes `documents_severity`.
WITH accesses AS (
    SELECT a.*, a.judged_against AS d,
        -- The practice's `documents_severity`, else the default one.
        coalesce(own.value, standard.value) AS documents_severity
    FROM month_access AS a
    LEFT JOIN cfg_rule_param AS own
        ON own.practice_id = a.practice_id AND own.rule_id = 'right_exceeded' AND own.name = 'documents_severity'
    LEFT JOIN cfg_rule_param AS standard
        ON standard.practice_id IS NULL AND standard.rule_id = 'right_exceeded' AND standard.name = 'documents_severity'
    WHERE a.attribution = 'delegate_beyond_rights' AND a.outcome = 'success'
)
SELECT
    'right_exceeded' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    any_value(d.delegation_key) AS delegation_key,
    CASE WHEN right_needed = 'documents' THEN any_value(documents_severity) END
        AS severity,
    'Action au-delà des droits délégués' AS title_fr,
    'Le compte ' || fr_person(any_value(d.delegate_name), actor, any_value(d.delegate_role))
        || ' a agi dans la boîte ' || fr_of(coalesce(any_value(holder_name), mailbox))
        || ' ' || fr_during(min(occurred_at), max(occurred_at))
        || ' (' || fr_actions(count(*)) || ' : '
        || fr_action_list(list(action))
        || fr_auths(list(auth_method)) || ')'
        || ', ce qui demande le droit « ' || fr_rights([right_needed]) || ' », que sa délégation ne donnait pas ('
        || 'droits donnés : ' || coalesce(nullif(fr_rights(any_value(rights_in_force)), ''), 'aucun') || ') : '
        || any_value(judged_against_fr) || '.' AS explanation_fr
FROM accesses
GROUP BY practice_id, mailbox, actor, CAST(occurred_local AS DATE), right_needed
