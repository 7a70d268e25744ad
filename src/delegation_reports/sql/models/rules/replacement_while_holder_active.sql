-- Grain: one finding per replacement delegation in force in the window whose délégataire and
-- the holder both acted in the mailbox on more than `concurrent_days` working days of the
-- window (Monday to Friday, not a public holiday of the practice's calendar). A replaced
-- practitioner stops practising during the replacement: concurrent work means the delegation
-- is a permanent one in disguise, or a shared account.
WITH replacement AS (
    SELECT mailbox, delegate,
        arg_max(struct_pack(delegation_key, delegation_ids, delegate_name, delegate_role), in_force_from_at) AS d
    FROM delegation_period
    WHERE delegate_role = 'replacement' AND in_force_from_at < $until_at AND in_force_until_at > $from_at
    GROUP BY ALL
),
own_calendar AS (
    SELECT DISTINCT practice_id FROM public_holiday WHERE practice_id IS NOT NULL
),
days AS (
    SELECT r.mailbox, r.delegate, CAST(a.occurred_local AS DATE) AS day,
        any_value(a.practice_id) FILTER (a.actor = r.delegate) AS practice_id,
        any_value(a.holder_name) AS holder_name,
        min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at,
        arg_min(a.event_id, a.occurred_at) FILTER (a.actor = r.mailbox) AS holder_event,
        arg_min(a.event_id, a.occurred_at) FILTER (a.actor = r.delegate) AS replacement_event
    FROM month_access AS a
    JOIN replacement AS r ON r.mailbox = a.mailbox AND (a.actor = r.delegate OR a.actor = r.mailbox)
    WHERE a.outcome = 'success' AND a.action NOT IN ('login_failed', 'logout')
      AND isodow(a.occurred_local) <= 5
    GROUP BY ALL
    HAVING bool_or(a.actor = r.mailbox) AND bool_or(a.actor = r.delegate)
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
    any_value(r.d.delegation_key) AS delegation_key, any_value(r.d.delegation_ids) AS delegation_ids,
    'Remplaçant et titulaire actifs en même temps' AS title_fr,
    fr_person(any_value(r.d.delegate_name), w.delegate, 'replacement') || ' et le titulaire, '
        || coalesce(any_value(w.holder_name), w.mailbox) || ', ont tous deux agi dans la boîte '
        || count(*) || ' jours ouvrés du mois : les '
        || array_to_string(list(CASE WHEN day(w.day) = 1 THEN '1er' ELSE CAST(day(w.day) AS VARCHAR) END ORDER BY w.day), ', ')
        || ' ' || ['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre',
                  'octobre', 'novembre', 'décembre'][month(min(w.day))]
        || '. Pendant un remplacement, le praticien remplacé cesse d''exercer : un travail simultané laisse penser '
        || 'que la délégation est en réalité permanente, ou que le compte est partagé. Vérifiez avec le titulaire '
        || 'et, s''il s''agit d''une collaboration durable, demandez à l''opérateur une délégation adaptée '
        || '(rôle et dates).' AS explanation_fr
FROM working AS w
JOIN replacement AS r USING (mailbox, delegate)
GROUP BY w.practice_id, w.mailbox, w.delegate
HAVING count(*) > rule_num(w.practice_id, 'replacement_while_holder_active', 'concurrent_days')
