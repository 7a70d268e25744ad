-- Grain: one finding per (mailbox, délégataire, departure of the holder) with successful
-- actions of the délégataire in the window after the holder's BAL PER left the national
-- directory, or after the end date the practice's roster gives the holder (`holder_departure`):
-- nobody should act any more in the name of a practitioner who has left.
WITH acting AS (
    SELECT a.*, d.left_at, d.last_listed_at, d.back_at, d.source
    FROM month_access AS a
    JOIN holder_departure AS d
        ON d.mailbox = a.mailbox AND a.occurred_at >= d.left_at
       AND (d.back_at IS NULL OR a.occurred_at < d.back_at)
       -- A roster's end date tells that the holder left that practice, not the others.
       AND (d.practice_id IS NULL OR d.practice_id = a.practice_id)
    WHERE a.attribution LIKE 'delegate_%' AND a.outcome = 'success' AND a.action <> 'login_failed'
)
SELECT
    'holder_left_delegate_active' AS rule_id,
    a.practice_id, a.mailbox, a.actor,
    min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at, count(*) AS n_events,
    list(a.event_id ORDER BY a.occurred_at, a.event_id) AS evidence,
    any_value(a.judged_against.delegation_key) AS delegation_key,
    'Délégataire actif après le départ du titulaire' AS title_fr,
    CASE a.source
        WHEN 'roster' THEN 'D''après la liste des membres du cabinet, ' || coalesce(any_value(a.holder_name), a.mailbox)
            || ' a quitté le cabinet le ' || fr_long_date(a.left_at - INTERVAL 1 SECOND) || ', mais '
        ELSE 'La boîte ' || fr_of(coalesce(any_value(a.holder_name), a.mailbox)) || ' n''apparaît plus dans l''annuaire MSSanté '
            || 'depuis l''extraction du ' || fr_long_date(a.left_at) || ' (elle y figurait encore le '
            || fr_long_date(any_value(a.last_listed_at)) || '), mais '
    END
        || fr_person(any_value(a.judged_against.delegate_name), a.actor, any_value(a.judged_against.delegate_role))
        || ' y a encore agi ' || fr_during(min(a.occurred_at), max(a.occurred_at))
        || ' (' || fr_actions(count(*)) || ' : '
        || fr_action_list(list(a.action))
        || fr_auths(list(a.auth_method)) || '). Personne ne devrait plus agir au nom d''un praticien qui a '
        || 'quitté son exercice.' AS explanation_fr
FROM acting AS a
GROUP BY a.practice_id, a.mailbox, a.actor, a.left_at, a.source
