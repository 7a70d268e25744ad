-- Time layout of Dovecot logs: an ISO 8601 time with an offset is read as such; a wall-clock
-- time (syslog, or ISO without an offset) is a local time in {timezone}, the zone declared with
-- --timezone. The fall-back and spring-forward hours are quarantined, never guessed.
CREATE OR REPLACE TEMP MACRO event_ts(x) AS CASE
    WHEN x IS NULL THEN {{'ts': NULL::TIMESTAMPTZ, 'problem': NULL::VARCHAR}}
    WHEN regexp_matches(x, '(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') THEN iso_ts(x)
    ELSE wall_to_utc(try_strptime(x, ['%Y-%m-%dT%H:%M:%S', '%Y-%m-%dT%H:%M:%S.%f']),
                     {timezone}, 'quarantine', 'quarantine')
END;

CREATE OR REPLACE TEMP MACRO bound_ts(x, is_end) AS iso_ts(x);
