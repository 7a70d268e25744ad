-- Grain: one finding per run of working days in the window without any trace: per operator
-- (every practice it serves gets the finding), and per mailbox when the run lasts at least
-- `mailbox_min_days` working days between days with traces. Traces may have been lost.
WITH days AS (
    -- Working days of the window, numbered so that consecutive ones differ by one.
    SELECT day, row_number() OVER (ORDER BY day) AS day_index
    FROM (
        SELECT CAST(d AS DATE) AS day
        FROM (SELECT unnest(generate_series(CAST(paris($from_at) AS DATE), CAST(paris($until_at) AS DATE) - 1,
                                            INTERVAL 1 DAY)) AS d)
    )
    -- Operators serve many practices: mainland France's calendar (the default one).
    WHERE isodow(day) <= 5 AND day NOT IN (SELECT day FROM public_holiday WHERE practice_id IS NULL)
),
span AS (
    -- A gap needs traces before and after it: a month on each side of the window is enough.
    -- Days with traces come from `mailbox_day`, not from the events: each mailbox's first and
    -- last day with traces around the window, per operator.
    SELECT operator, mailbox, min(day) AS first_day, max(day) AS last_day
    FROM mailbox_day
    WHERE day >= CAST(paris($from_at) AS DATE) - 31 AND day < CAST(paris($until_at) AS DATE) + 31
    GROUP BY operator, mailbox
),
active AS (
    -- The working days of the window with traces: only these end a run of days without (a
    -- weekend day with traces does not: runs are of working days).
    SELECT m.operator, m.mailbox, m.day
    FROM mailbox_day AS m
    JOIN days AS d ON d.day = m.day
),
operator_span AS (
    SELECT operator, min(first_day) AS first_day, max(last_day) AS last_day FROM span GROUP BY operator
),
operator_gaps AS (
    SELECT s.operator, d.day, d.day_index
    FROM operator_span AS s
    JOIN days AS d ON d.day > s.first_day AND d.day < s.last_day
    WHERE NOT EXISTS (SELECT 1 FROM active AS a WHERE a.operator = s.operator AND a.day = d.day)
),
operator_runs AS (
    SELECT operator, min(day) AS first_day, max(day) AS last_day, count(*) AS n_days
    FROM (SELECT *, day_index - row_number() OVER (PARTITION BY operator ORDER BY day) AS run FROM operator_gaps)
    GROUP BY operator, run
),
served AS (
    SELECT DISTINCT s.operator, m.practice_id FROM span AS s JOIN mailbox_practice AS m USING (mailbox)
),
mailbox_span AS (
    SELECT mailbox, min(first_day) AS first_day, max(last_day) AS last_day FROM span GROUP BY mailbox
),
mailbox_gaps AS (
    SELECT s.mailbox, d.day, d.day_index
    FROM mailbox_span AS s
    JOIN days AS d ON d.day > s.first_day AND d.day < s.last_day
    WHERE NOT EXISTS (SELECT 1 FROM active AS a WHERE a.mailbox = s.mailbox AND a.day = d.day)
),
mailbox_runs AS (
    SELECT mailbox, min(day) AS first_day, max(day) AS last_day, count(*) AS n_days
    FROM (SELECT *, day_index - row_number() OVER (PARTITION BY mailbox ORDER BY day) AS run FROM mailbox_gaps)
    GROUP BY mailbox, run
)
SELECT
    'audit_gap' AS rule_id,
    s.practice_id, NULL::VARCHAR AS mailbox, NULL::VARCHAR AS actor,
    timezone('Europe/Paris', r.first_day::TIMESTAMP) AS first_at,
    timezone('Europe/Paris', (r.last_day + 1)::TIMESTAMP) - INTERVAL 1 SECOND AS last_at,
    0 AS n_events, []::VARCHAR[] AS evidence,
    'Journaux manquants chez l''opérateur' AS title_fr,
    'Aucune trace n''a été reçue de l''opérateur ' || r.operator || ' '
        || CASE WHEN r.n_days = 1 THEN 'le ' || fr_calendar_day(r.first_day)
                ELSE 'du ' || fr_calendar_day(r.first_day) || ' au ' || fr_calendar_day(r.last_day) END
        || CASE WHEN r.n_days = 1 THEN ', un jour ouvré' ELSE ' (' || r.n_days || ' jours ouvrés)' END
        || ' : des traces ont pu être perdues.' AS explanation_fr
FROM operator_runs AS r
JOIN served AS s USING (operator)
UNION ALL
SELECT
    'audit_gap',
    m.practice_id, r.mailbox, NULL::VARCHAR,
    timezone('Europe/Paris', r.first_day::TIMESTAMP),
    timezone('Europe/Paris', (r.last_day + 1)::TIMESTAMP) - INTERVAL 1 SECOND,
    0, []::VARCHAR[],
    'Boîte sans aucune trace pendant plusieurs jours',
    'Aucune trace pour la boîte ' || fr_of(coalesce(m.holder_name, r.mailbox)) || ' du '
        || fr_calendar_day(r.first_day) || ' au ' || fr_calendar_day(r.last_day) || ' ('
        || r.n_days || ' jours ouvrés), alors qu''elle était utilisée avant et après : '
        || 'si quelqu''un l''a utilisée pendant ces jours, des traces ont pu être perdues.'
FROM mailbox_runs AS r
LEFT JOIN mailbox_practice AS m USING (mailbox)
-- The practice's `mailbox_min_days`, else the default one.
LEFT JOIN cfg_rule_param AS own
    ON own.practice_id = m.practice_id AND own.rule_id = 'audit_gap' AND own.name = 'mailbox_min_days'
LEFT JOIN cfg_rule_param AS standard
    ON standard.practice_id IS NULL AND standard.rule_id = 'audit_gap' AND standard.name = 'mailbox_min_days'
WHERE r.n_days >= CAST(coalesce(own.value, standard.value) AS DOUBLE)
