-- Grain: one finding per burst of reads (no pause longer than $gap_minutes) by one account on
-- one mailbox, starting in the window, that reaches the fixed ceiling or is far above the
-- account's usual burst on that mailbox over the previous $baseline_days days.
WITH reads AS (
    SELECT mailbox, actor, occurred_at, event_id
    FROM audit_event
    WHERE action = 'read' AND outcome = 'success'
      AND occurred_at >= $from_at - to_days(CAST($baseline_days AS BIGINT)) AND occurred_at < $until_at
),
marked AS (
    SELECT *,
        CASE WHEN occurred_at - lag(occurred_at) OVER w <= to_minutes(CAST($gap_minutes AS BIGINT))
             THEN 0 ELSE 1 END AS starts_burst
    FROM reads
    WINDOW w AS (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id)
),
numbered AS (
    SELECT *, sum(starts_burst) OVER (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id) AS burst
    FROM marked
),
bursts AS (
    SELECT mailbox, actor, burst,
        min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_reads,
        list(event_id ORDER BY occurred_at, event_id) AS evidence
    FROM numbered
    GROUP BY ALL
),
scored AS (
    SELECT *,
        median(n_reads) OVER (
            PARTITION BY mailbox, actor ORDER BY first_at
            RANGE BETWEEN to_days(CAST($baseline_days AS BIGINT)) PRECEDING AND INTERVAL 1 MICROSECOND PRECEDING
        ) AS usual_reads
    FROM bursts
)
SELECT
    'bulk_access' AS rule_id,
    m.practice_id, s.mailbox, s.actor,
    s.first_at, s.last_at, s.n_reads AS n_events, s.evidence,
    'Lecture massive de messages' AS title_fr,
    'Le compte ' || s.actor || ' a ouvert ' || s.n_reads || ' messages de la boîte de '
        || coalesce(m.holder_name, s.mailbox) || ' le ' || fr_date(s.first_at) || ' entre '
        || strftime(paris(s.first_at), '%H:%M') || ' et ' || strftime(paris(s.last_at), '%H:%M')
        || coalesce(', bien plus que d''habitude (' || round(s.usual_reads)::BIGINT || ' en général)', '')
        || ' : une copie massive de la boîte est possible.' AS explanation_fr
FROM scored AS s
LEFT JOIN mailbox_practice AS m USING (mailbox)
WHERE s.first_at >= $from_at
  AND s.actor NOT IN (SELECT actor FROM month_access WHERE attribution = 'system')
  AND (s.n_reads >= rule_num(m.practice_id, 'bulk_access', 'ceiling')
       OR (s.n_reads >= rule_num(m.practice_id, 'bulk_access', 'min_reads')
           AND s.n_reads >= rule_num(m.practice_id, 'bulk_access', 'baseline_factor') * s.usual_reads))
