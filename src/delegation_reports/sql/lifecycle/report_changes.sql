-- Grain: one row per month and practice that has a report run (optionally one month, one
-- practice): its latest run, the number of runs, and the findings that appeared since that
-- run (in `finding`, not shown by it) and disappeared (shown by it, no longer in `finding`).
WITH runs AS (
    SELECT *, count(*) OVER (PARTITION BY month, practice_id) AS n_runs
    FROM report_run
    WHERE ($month IS NULL OR month = $month) AND ($practice_id IS NULL OR practice_id = $practice_id)
    QUALIFY row_number() OVER (PARTITION BY month, practice_id ORDER BY run_id DESC) = 1
),
shown AS (
    SELECT r.month, r.practice_id, s.finding_id, s.rule_id, s.severity, s.mailbox, s.actor, s.title_fr
    FROM runs AS r
    JOIN report_run_finding AS s USING (run_id)
),
current AS (
    SELECT DISTINCT ON (f.month, f.practice_id, f.finding_id)
        f.month, f.practice_id, f.finding_id, f.rule_id, f.severity, f.mailbox, f.actor, f.title_fr
    FROM finding AS f
    SEMI JOIN runs AS r ON r.month = f.month AND r.practice_id = f.practice_id
),
changed AS (
    SELECT
        coalesce(c.month, s.month) AS month,
        coalesce(c.practice_id, s.practice_id) AS practice_id,
        struct_pack(
            finding_id := coalesce(c.finding_id, s.finding_id),
            rule_id := coalesce(c.rule_id, s.rule_id),
            severity := coalesce(c.severity, s.severity),
            mailbox := coalesce(c.mailbox, s.mailbox),
            actor := coalesce(c.actor, s.actor),
            title_fr := coalesce(c.title_fr, s.title_fr)) AS finding,
        s.finding_id IS NULL AS appeared
    FROM current AS c
    FULL OUTER JOIN shown AS s
        ON s.month = c.month AND s.practice_id = c.practice_id AND s.finding_id = c.finding_id
    WHERE c.finding_id IS NULL OR s.finding_id IS NULL
)
SELECT
    r.month, r.practice_id,
    (SELECT min(practice_name) FROM roster_member AS m WHERE m.practice_id = r.practice_id) AS practice_name,
    r.run_id, r.reported_at, r.n_runs,
    coalesce(list(d.finding ORDER BY d.finding.title_fr, d.finding.finding_id) FILTER (d.appeared), []) AS appeared,
    coalesce(list(d.finding ORDER BY d.finding.title_fr, d.finding.finding_id) FILTER (NOT d.appeared), []) AS disappeared
FROM runs AS r
LEFT JOIN changed AS d USING (month, practice_id)
GROUP BY ALL
ORDER BY r.month, r.practice_id
