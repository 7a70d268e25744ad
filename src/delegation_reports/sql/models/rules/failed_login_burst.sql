-- Grain: one finding per episode of failed logins of one account on one mailbox started in the
-- window: a burst (at least `threshold` failures, each less than $window_minutes after the
-- previous) or a slow series (at least `slow_failures` in less than 24 hours), overlapping ones
-- together; see `month_failure_episode`.
SELECT
    'failed_login_burst' AS rule_id,
    practice_id, mailbox, actor,
    first_at, last_at, n_failures AS n_events,
    evidence,
    'Série d''échecs de connexion' AS title_fr,
    n_failures || ' échecs de connexion du compte ' || fr_account(actor, mailbox, delegate_role) || ' sur la boîte '
        || fr_of(coalesce(holder_name, mailbox)) || ' ' || fr_during(first_at, last_at)
        || CASE WHEN array_length(client_ips) > 0 THEN ', depuis ' || array_to_string(client_ips, ', ') ELSE '' END
        -- " (authentification : mot de passe seul)": fr_auths without its leading " ; ".
        || CASE WHEN fr_auths(auth_methods) <> '' THEN ' (' || substr(fr_auths(auth_methods), 4) || ')' ELSE '' END
        || CASE WHEN has_burst THEN ' : quelqu''un a peut-être tenté de deviner le mot de passe.'
                ELSE ', espacés pour rester sous le seuil d''une rafale mais nombreux en moins de 24 heures : '
                    || 'quelqu''un a peut-être tenté de deviner le mot de passe lentement, pour passer inaperçu.'
           END AS explanation_fr
FROM month_failure_episode
