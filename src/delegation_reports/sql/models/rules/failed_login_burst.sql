-- Grain: one finding per burst of failed logins of one account on one mailbox: at least
-- `threshold` failures, each less than $window_minutes after the previous one.
WITH failures AS (
    -- Read from the events: whoever fails counts, whatever their delegation.
    SELECT a.*, m.practice_id, m.holder_name,
        CASE WHEN occurred_at - lag(occurred_at) OVER w < to_minutes(CAST($window_minutes AS BIGINT))
             THEN 0 ELSE 1 END AS starts_burst
    FROM audit_event AS a
    LEFT JOIN mailbox_practice AS m USING (mailbox)
    WHERE a.occurred_at >= $from_at AND a.occurred_at < $until_at
      AND (a.action = 'login_failed' OR (a.action = 'login' AND a.outcome = 'failure'))
    WINDOW w AS (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id)
),
bursts AS (
    SELECT *, sum(starts_burst) OVER (PARTITION BY mailbox, actor ORDER BY occurred_at, event_id) AS burst
    FROM failures
)
SELECT
    'failed_login_burst' AS rule_id,
    practice_id, mailbox, actor,
    min(occurred_at) AS first_at, max(occurred_at) AS last_at, count(*) AS n_events,
    list(event_id ORDER BY occurred_at, event_id) AS evidence,
    'Série d''échecs de connexion' AS title_fr,
    count(*) || ' échecs de connexion du compte ' || actor || ' sur la boîte de '
        || coalesce(any_value(holder_name), mailbox) || ' le ' || fr_date(min(occurred_at)) || ' entre '
        || strftime(paris(min(occurred_at)), '%H:%M') || ' et ' || strftime(paris(max(occurred_at)), '%H:%M')
        || coalesce(', depuis ' || string_agg(DISTINCT client_ip, ', ' ORDER BY client_ip), '')
        || ' : quelqu''un a peut-être tenté de deviner le mot de passe.' AS explanation_fr
FROM bursts
GROUP BY practice_id, mailbox, actor, burst
HAVING count(*) >= rule_num(practice_id, 'failed_login_burst', 'threshold')
