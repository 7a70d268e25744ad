-- Grain: one finding per episode of failed logins (see `month_failure_episode`) followed by
-- successful actions on the same mailbox, by the account that failed or from an address the
-- failures came from, after the episode's first failure and at most $after_failures_window
-- minutes after its last: the password may have been found. Service accounts left out.
WITH successes AS (
    SELECT e.mailbox, e.actor AS failed_actor, e.first_at AS episode_at,
        a.event_id, a.occurred_at, a.actor, a.action, a.client_ip, a.auth_method,
        list_contains(e.client_ips, a.client_ip) AS is_same_address
    FROM month_failure_episode AS e
    JOIN audit_event AS a
        ON a.mailbox = e.mailbox
       AND a.occurred_at > e.first_at
       AND a.occurred_at <= e.last_at + to_minutes(CAST($after_failures_window AS BIGINT))
       AND (a.actor = e.actor OR list_contains(e.client_ips, a.client_ip))
    WHERE a.occurred_at >= $from_at AND a.occurred_at < $after_until_at
      AND a.outcome = 'success' AND a.action <> 'login_failed'
      AND a.actor NOT IN (SELECT actor FROM system_account)
),
followed AS (
    SELECT mailbox, failed_actor, episode_at,
        count(*) AS n_success,
        max(occurred_at) AS last_success_at,
        arg_min(struct_pack(occurred_at, actor, action, client_ip, auth_method, is_same_address),
                (occurred_at, event_id)) AS first_success,
        list(event_id ORDER BY occurred_at, event_id) AS success_ids
    FROM successes
    GROUP BY ALL
)
SELECT
    'login_after_failures' AS rule_id,
    e.practice_id, e.mailbox, e.actor,
    e.first_at, s.last_success_at AS last_at,
    e.n_failures + s.n_success AS n_events,
    list_concat(e.evidence, s.success_ids) AS evidence,
    'Connexion réussie juste après des échecs' AS title_fr,
    e.n_failures || ' échecs de connexion du compte ' || fr_account(e.actor, e.mailbox, e.delegate_role)
        || ' sur la boîte ' || fr_of(coalesce(e.holder_name, e.mailbox)) || ' ' || fr_during(e.first_at, e.last_at)
        || ', puis un accès réussi (' || fr_action(s.first_success.action) || ') le ' || fr_when(s.first_success.occurred_at)
        || CASE WHEN s.first_success.actor = e.actor THEN ' par le même compte' ELSE ' par le compte ' || s.first_success.actor END
        || CASE WHEN s.first_success.is_same_address THEN ' depuis la même adresse (' || s.first_success.client_ip || ')'
                ELSE coalesce(' depuis ' || s.first_success.client_ip, '') END
        || coalesce(' (authentification : ' || fr_auth(s.first_success.auth_method) || ')', '')
        || CASE s.n_success WHEN 1 THEN '' WHEN 2 THEN ', et une autre action réussie ensuite'
                ELSE ', et ' || (s.n_success - 1) || ' autres actions réussies ensuite' END
        || ' : le mot de passe a peut-être été trouvé.' AS explanation_fr
FROM month_failure_episode AS e
JOIN followed AS s ON s.mailbox = e.mailbox AND s.failed_actor = e.actor AND s.episode_at = e.first_at
