-- Grain: one finding per burst of reads (no pause longer than $gap_minutes) by one account on
-- one mailbox, started in the window, that reaches the fixed `ceiling`, or is
-- `baseline_factor` times the account's usual burst on that mailbox (median of its bursts
-- started in the $baseline_days days before the window) with at least `min_reads` reads.
-- A burst belongs to the month it starts in, and is followed up to a day past the month's
-- end. Holders in their own mailbox and service accounts are left out.
--
-- Bursts are looked for only where the reads are numerous enough for one of them to be
-- flagged (`month_heavy_reader`): most accounts never read that much in a month.
WITH reads AS (
    -- From the first day of the month the baseline starts in ($baseline_from_at, at least a
    -- day before the window), so that its bursts, and one running over the window's start,
    -- are whole.
    SELECT a.mailbox, a.actor, a.occurred_at, a.event_id
    FROM audit_event AS a
    JOIN month_heavy_reader AS c USING (mailbox, actor)
    WHERE a.occurred_at >= $baseline_from_at AND a.occurred_at < $margin_until_at
      AND a.action = 'read' AND a.outcome = 'success'
),
marked AS (
    SELECT *,
        -- Events of the same second are peers: whatever their order, one of them at most
        -- starts a burst, and they share it.
        CASE WHEN occurred_at - lag(occurred_at) OVER w <= to_minutes(CAST($gap_minutes AS BIGINT))
             THEN 0 ELSE 1 END AS starts_burst
    FROM reads
    WINDOW w AS (PARTITION BY mailbox, actor ORDER BY occurred_at)
),
bursts AS (
    SELECT mailbox, actor, min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_reads,
        list(event_id ORDER BY occurred_at, event_id) AS evidence
    FROM (SELECT *, sum(starts_burst) OVER (PARTITION BY mailbox, actor ORDER BY occurred_at) AS burst
          FROM marked)
    GROUP BY mailbox, actor, burst
),
usual AS (
    SELECT mailbox, actor, median(n_reads) AS usual_reads
    FROM bursts
    WHERE first_at >= $from_at - to_days(CAST($baseline_days AS BIGINT)) AND first_at < $from_at
    GROUP BY ALL
)
SELECT
    'bulk_access' AS rule_id,
    c.practice_id, b.mailbox, b.actor,
    b.first_at, b.last_at, b.n_reads AS n_events,
    b.evidence,
    'Lecture massive de messages' AS title_fr,
    'Le compte ' || CASE WHEN s.judged_against IS NULL
                        THEN b.actor || ', qui n''a jamais eu de délégation sur cette boîte,'
                        ELSE fr_person(s.judged_against.delegate_name, b.actor, s.judged_against.delegate_role) END
        || ' a ouvert ' || b.n_reads || ' messages de la boîte '
        || fr_of(coalesce(c.holder_name, b.mailbox)) || ' ' || fr_during(b.first_at, b.last_at)
        || coalesce(', bien plus que d''habitude (' || round(u.usual_reads)::BIGINT || ' en général)', '')
        || ' : une copie massive de la boîte est possible.' AS explanation_fr
FROM bursts AS b
JOIN month_heavy_reader AS c USING (mailbox, actor)
LEFT JOIN usual AS u USING (mailbox, actor)
-- The délégataire's delegation at the burst's first read (none for an unknown account).
LEFT JOIN delegation_segment AS s
    ON s.mailbox = b.mailbox AND s.delegate = b.actor
   AND b.first_at >= s.seg_from_at AND b.first_at < s.seg_until_at
WHERE b.first_at >= $from_at AND b.first_at < $until_at
  AND (b.n_reads >= c.ceiling
       OR (b.n_reads >= c.min_reads AND b.n_reads >= c.baseline_factor * u.usual_reads))
