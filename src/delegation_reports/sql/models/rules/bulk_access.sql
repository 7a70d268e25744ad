-- Grain: one finding per burst of reads of the month (see `read_burst`) that reaches the fixed
-- ceiling, or is `baseline_factor` times the account's usual burst on that mailbox (median of
-- its bursts over the $baseline_days days before the month) with at least `min_reads` reads.
WITH usual AS (
    SELECT mailbox, actor, median(n_reads) AS usual_reads
    FROM read_burst
    WHERE first_at >= $from_at - to_days(CAST($baseline_days AS BIGINT)) AND first_at < $from_at
    GROUP BY ALL
),
flagged AS (
    SELECT b.*, u.usual_reads
    FROM read_burst AS b
    LEFT JOIN usual AS u USING (mailbox, actor)
    WHERE b.month = $month
      AND (b.n_reads >= rule_num(b.practice_id, 'bulk_access', 'ceiling')
           OR (b.n_reads >= rule_num(b.practice_id, 'bulk_access', 'min_reads')
               AND b.n_reads >= rule_num(b.practice_id, 'bulk_access', 'baseline_factor') * u.usual_reads))
)
SELECT
    'bulk_access' AS rule_id,
    f.practice_id, f.mailbox, f.actor,
    f.first_at, f.last_at, f.n_reads AS n_events,
    list(a.event_id ORDER BY a.occurred_at, a.event_id) AS evidence,
    'Lecture massive de messages' AS title_fr,
    'Le compte ' || f.actor || ' a ouvert ' || f.n_reads || ' messages de la boîte de '
        || coalesce(any_value(a.holder_name), f.mailbox) || ' le ' || fr_date(f.first_at) || ' entre '
        || strftime(paris(f.first_at), '%H:%M') || ' et ' || strftime(paris(f.last_at), '%H:%M')
        || coalesce(', bien plus que d''habitude (' || round(f.usual_reads)::BIGINT || ' en général)', '')
        || ' : une copie massive de la boîte est possible.' AS explanation_fr
FROM flagged AS f
JOIN month_access AS a
    ON a.mailbox = f.mailbox AND a.actor = f.actor AND a.action = 'read' AND a.outcome = 'success'
   AND a.occurred_at BETWEEN f.first_at AND f.last_at
GROUP BY f.practice_id, f.mailbox, f.actor, f.first_at, f.last_at, f.n_reads, f.usual_reads
