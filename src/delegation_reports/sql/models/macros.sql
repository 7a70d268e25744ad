-- Helpers shared by the models. TEMP macros, created on every connection.

-- Wall-clock time in Paris: the time users read, and the one opening hours speak of.
CREATE OR REPLACE TEMP MACRO paris(ts) AS timezone('Europe/Paris', ts);

-- The bounds of a validity without a start or without an end (`delegation_period.in_force_*`,
-- `delegation_segment.seg_*`): the first and last instants every engine and Parquet reader
-- holds (Spark's timestamps have no infinity). Every real instant lies strictly between them;
-- a bound equal to one of them is an open end (the reports say "sans date de fin").
CREATE OR REPLACE TEMP MACRO unbounded_from() AS TIMESTAMPTZ '0001-01-01 00:00:00+00';
CREATE OR REPLACE TEMP MACRO unbounded_until() AS TIMESTAMPTZ '9999-12-31 23:59:59.999999+00';

-- A rule's setting for a practice (the default when the practice has none), as the reports
-- read its texts. Aggregates, not ORDER BY ... LIMIT, so that the planner turns the lookup
-- into a join. Each call is two correlated subqueries that every statement plans again: the
-- models join `cfg_rule_param` once instead (the practice's own row, else the default one).
CREATE OR REPLACE TEMP MACRO rule_text(practice, rule, pname) AS coalesce(
    (SELECT any_value(c.value) FROM cfg_rule_param AS c
     WHERE c.rule_id = rule AND c.name = pname AND c.practice_id = practice),
    (SELECT any_value(c.value) FROM cfg_rule_param AS c
     WHERE c.rule_id = rule AND c.name = pname AND c.practice_id IS NULL));

-- "1 action", "3 actions".
CREATE OR REPLACE TEMP MACRO fr_actions(n) AS n || CASE WHEN n = 1 THEN ' action' ELSE ' actions' END;

-- Prose dates and times, Paris time (fr_long_date, fr_calendar_day, fr_month, fr_day, fr_clock,
-- fr_when, fr_during, fr_day_span), and words (fr_role, fr_auth, fr_auths, fr_action, fr_action_list,
-- fr_rights, fr_person, fr_account) are scalar functions registered on the connection: see
-- analysis/prose.py.

-- Who performed a delegation change, when the export names nobody usable: NULL.
CREATE OR REPLACE TEMP MACRO known_person(x) AS
    CASE WHEN lower(trim(x)) IN ('', 'unknown', 'inconnu', 'n/a', 'na', '-', '?', 'null', 'none') THEN NULL ELSE x END;

-- The practice a délégataire's or account's work in a mailbox belongs to (see member_practice).
CREATE OR REPLACE TEMP MACRO practice_of(holder_practice, member_practice) AS coalesce(member_practice, holder_practice);

-- What `practice_access` is sorted by first, and what a query on one practice filters on
-- (`practice_key = practice_key($practice_id)`, beside the practice itself): a short digest
-- of the practice id. A row group's bounds keep only the first 8 bytes of a text column, so
-- that ids sharing a longer prefix (the SIRETs of one organisation, `cabinet-...`) would leave
-- every row group's bounds around every practice of the prefix; 8 hex digits are whole in
-- the bounds, and spread practices evenly. A mailbox without a practice has the key of ''.
CREATE OR REPLACE TEMP MACRO practice_key(practice_id) AS left(md5(coalesce(practice_id, '')), 8);

-- The delegation an access was judged against (delegation_segment.judged_against), in prose,
-- with the words for its events (delegation_record.events_fr).
CREATE OR REPLACE TEMP MACRO fr_delegation(d, events_fr) AS CASE
    WHEN d IS NULL THEN 'aucune délégation'
    WHEN d.source = 'snapshots'
        THEN 'la délégation vue dans les listes de l''opérateur à partir du ' || fr_long_date(d.started_latest_at)
            || coalesce(', absente de la liste du ' || fr_long_date(d.revoked_at), '')
    ELSE 'la délégation ' || CASE d.opened_by WHEN 'grant' THEN 'donnée' ELSE 'modifiée' END
        || ' le ' || fr_when(d.started_latest_at)
        || ' par ' || coalesce(known_person(d.granted_by), 'une personne inconnue')
        || coalesce(', retirée le ' || fr_when(d.revoked_at)
                    || coalesce(' par ' || known_person(d.revoked_by), ''), '')
        || ', événements ' || events_fr
    END
    || CASE WHEN d IS NOT NULL AND (d.valid_from_at IS NOT NULL OR d.valid_until_at IS NOT NULL)
            THEN ', valable ' || coalesce('du ' || fr_long_date(d.valid_from_at), 'sans date de début')
                || coalesce(' au ' || fr_long_date(d.valid_until_at - INTERVAL 1 SECOND), ' sans date de fin')
            ELSE '' END;

-- An instant as text, as concat_ws writes it (engines/spark_macros.sql: the same text on Spark).
CREATE OR REPLACE TEMP MACRO instant_text(ts) AS CAST(ts AS VARCHAR);

-- A finding's stable identity. An event-level finding is its events: rule, practice, mailbox,
-- actor, first instant and evidence. A delegation-level finding is the same in every month
-- and every run: rule, practice, mailbox, actor and the delegation it is about.
CREATE OR REPLACE TEMP MACRO finding_key(rule_id, practice_id, mailbox, actor, first_at, evidence,
                                         delegation_key, is_delegation_level) AS CASE
    WHEN is_delegation_level
    THEN md5(concat_ws('|', 'delegation', rule_id, practice_id, mailbox, actor, delegation_key))
    ELSE md5(concat_ws('|', rule_id, practice_id, mailbox, actor, instant_text(first_at), array_to_string(evidence, ',')))
END;
