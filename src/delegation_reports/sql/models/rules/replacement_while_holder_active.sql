-- Grain: one finding per replacement delegation in force in the window whose délégataire and
-- the holder both acted in the mailbox on more than `concurrent_days` working days of the
-- window (Monday to Friday, not a public holiday of the practice's calendar). A replaced
-- practitioner stops practising during the replacement: concurrent work means the delegation
-- is a permanent one in disguise, or a shared account. Reads the `actor_day` mart, so that
-- it can be judged for any month (a delegation-level rule: new, then ongoing).
WITH replacement AS (
    SELECT p.mailbox, p.delegate,
        practice_of(any_value(m.practice_id), any_value(mp.practice_id)) AS practice_id,
        any_value(m.holder_name) AS holder_name,
        arg_max(struct_pack(p.delegation_key, p.delegate_name), p.in_force_from_at) AS d
    FROM delegation_period AS p
    LEFT JOIN mailbox_practice AS m ON m.mailbox = p.mailbox
    LEFT JOIN member_practice AS mp ON mp.mailbox = p.mailbox AND mp.actor = p.delegate
    WHERE p.delegate_role = 'replacement' AND p.in_force_from_at < $until_at AND p.in_force_until_at > $from_at
    GROUP BY p.mailbox, p.delegate
),
own_calendar AS (
    SELECT DISTINCT practice_id FROM public_holiday WHERE practice_id IS NOT NULL
),
days AS (
    -- Days both acted, Monday to Friday.
    SELECT r.mailbox, r.delegate, r.practice_id, w.day,
        least(w.first_at, o.first_at) AS first_at, greatest(w.last_at, o.last_at) AS last_at,
        w.first_event_id AS replacement_event, o.first_event_id AS holder_event
    FROM replacement AS r
    JOIN actor_day AS w ON w.month = $month AND w.mailbox = r.mailbox AND w.actor = r.delegate
    JOIN actor_day AS o ON o.month = $month AND o.mailbox = r.mailbox AND o.actor = r.mailbox AND o.day = w.day
    WHERE isodow(w.day) <= 5
),
working AS (
    SELECT d.*
    FROM days AS d
    WHERE NOT EXISTS (
        SELECT 1 FROM public_holiday AS h
        WHERE h.day = d.day
          AND h.practice_id IS NOT DISTINCT FROM
              (CASE WHEN d.practice_id IN (SELECT practice_id FROM own_calendar) THEN d.practice_id END))
)
SELECT
    'replacement_while_holder_active' AS rule_id,
    w.practice_id, w.mailbox, w.delegate AS actor,
    min(w.first_at) AS first_at, max(w.last_at) AS last_at, count(*) AS n_events,
    flatten(list([w.replacement_event, w.holder_event] ORDER BY w.day)) AS evidence,
    any_value(r.d.delegation_key) AS delegation_key,
    'Remplaçant et titulaire actifs en même temps' AS title_fr,
    fr_person(any_value(r.d.delegate_name), w.delegate, 'replacement') || ' et le titulaire, '
        || coalesce(any_value(r.holder_name), w.mailbox) || ', ont tous deux agi dans la boîte '
        || count(*) || ' jours ouvrés du mois : les '
        || array_to_string(list(CASE WHEN day(w.day) = 1 THEN '1er' ELSE CAST(day(w.day) AS VARCHAR) END ORDER BY w.day), ', ')
        || ' ' || fr_month(min(w.day))
        || '. Pendant un remplacement, le praticien remplacé cesse d''exercer : un travail simultané laisse penser '
        || 'que la délégation est en réalité permanente, ou que le compte est partagé.' AS explanation_fr
FROM working AS w
JOIN replacement AS r USING (mailbox, delegate)
-- The practice's `concurrent_days`, else the default one.
LEFT JOIN cfg_rule_param AS own
    ON own.practice_id = w.practice_id AND own.rule_id = 'replacement_while_holder_active' AND own.name = 'concurrent_days'
LEFT JOIN cfg_rule_param AS standard
    ON standard.practice_id IS NULL AND standard.rule_id = 'replacement_while_holder_active' AND standard.name = 'concurrent_days'
GROUP BY w.practice_id, w.mailbox, w.delegate
HAVING count(*) > CAST(any_value(coalesce(own.value, standard.value)) AS DOUBLE)
