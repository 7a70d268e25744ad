-- Grain: one finding per burst of reads of the month (see `read_burst`) that reaches the fixed
-- ceiling, or is `baseline_factor` times the account's usual burst on that mailbox (median of
-- its bursts over the $baseline_days days before the month) with at least `min_reads` reads.
-- Service accounts are left out.
WITH this_month AS (
    SELECT b.*, m.practice_id, m.holder_name
    FROM read_burst AS b
    LEFT JOIN mailbox_practice AS m USING (mailbox)
    WHERE b.month = $month AND b.actor NOT IN (SELECT actor FROM system_account)
),
thresholds AS (
    -- Each practice's settings, looked up once per practice rather than once per burst.
    SELECT practice_id,
        rule_num(practice_id, 'bulk_access', 'ceiling') AS ceiling,
        rule_num(practice_id, 'bulk_access', 'min_reads') AS min_reads,
        rule_num(practice_id, 'bulk_access', 'baseline_factor') AS baseline_factor
    FROM (SELECT DISTINCT practice_id FROM this_month)
),
candidates AS (
    -- Only bursts of at least `min_reads` can be flagged: the baseline is computed for them.
    SELECT b.*, t.ceiling, t.min_reads, t.baseline_factor
    FROM this_month AS b
    JOIN thresholds AS t ON t.practice_id IS NOT DISTINCT FROM b.practice_id
    WHERE b.n_reads >= least(t.ceiling, t.min_reads)
),
usual AS (
    SELECT mailbox, actor, median(n_reads) AS usual_reads
    FROM read_burst
    WHERE first_at >= $from_at - to_days(CAST($baseline_days AS BIGINT)) AND first_at < $from_at
      AND (mailbox, actor) IN (SELECT (mailbox, actor) FROM candidates)
    GROUP BY ALL
),
flagged AS (
    SELECT c.*, u.usual_reads
    FROM candidates AS c
    LEFT JOIN usual AS u USING (mailbox, actor)
    WHERE c.n_reads >= c.ceiling
       OR (c.n_reads >= c.min_reads AND c.n_reads >= c.baseline_factor * u.usual_reads)
)
SELECT
    'bulk_access' AS rule_id,
    f.practice_id, f.mailbox, f.actor,
    f.first_at, f.last_at, f.n_reads AS n_events,
    list(a.event_id ORDER BY a.occurred_at, a.event_id) AS evidence,
    'Lecture massive de messages' AS title_fr,
    'Le compte ' || f.actor || ' a ouvert ' || f.n_reads || ' messages de la boîte de '
        || coalesce(f.holder_name, f.mailbox) || ' le ' || fr_date(f.first_at) || ' entre '
        || strftime(paris(f.first_at), '%H:%M') || ' et ' || strftime(paris(f.last_at), '%H:%M')
        || coalesce(', bien plus que d''habitude (' || round(f.usual_reads)::BIGINT || ' en général)', '')
        || ' : une copie massive de la boîte est possible.' AS explanation_fr
FROM flagged AS f
JOIN audit_event AS a
    ON a.mailbox = f.mailbox AND a.actor = f.actor AND a.action = 'read' AND a.outcome = 'success'
   AND a.occurred_at BETWEEN f.first_at AND f.last_at
WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
GROUP BY f.practice_id, f.mailbox, f.actor, f.holder_name, f.first_at, f.last_at, f.n_reads, f.usual_reads
