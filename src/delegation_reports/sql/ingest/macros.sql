-- Validation and time conversion used by the staging models. Created as TEMP macros on every
-- connection, so the warehouse file does not depend on them.

-- Luhn check over a string of digits.
CREATE OR REPLACE TEMP MACRO luhn_ok(s) AS
    regexp_full_match(s, '[0-9]+')
    AND list_sum(list_transform(
            range(length(s)),
            lambda i: CASE
                WHEN i % 2 = 0 THEN CAST(substr(s, length(s) - i, 1) AS INTEGER)
                WHEN CAST(substr(s, length(s) - i, 1) AS INTEGER) * 2 > 9
                    THEN CAST(substr(s, length(s) - i, 1) AS INTEGER) * 2 - 9
                ELSE CAST(substr(s, length(s) - i, 1) AS INTEGER) * 2
            END)) % 10 = 0;

-- Identifier checks; NULL when the value is absent. Shapes from the national registries.
CREATE OR REPLACE TEMP MACRO rpps_problem(s) AS CASE
    WHEN s IS NULL THEN NULL
    WHEN NOT regexp_full_match(s, '10[0-9]{9}') THEN 'invalid_identifier'
    WHEN NOT luhn_ok(s) THEN 'invalid_check_digit'
END;

CREATE OR REPLACE TEMP MACRO siren_problem(s) AS CASE
    WHEN s IS NULL THEN NULL
    WHEN NOT regexp_full_match(s, '[0-9]{9}') THEN 'invalid_identifier'
    WHEN NOT luhn_ok(s) THEN 'invalid_check_digit'
END;

-- La Poste's establishments share one SIREN and use a digit sum divisible by 5 instead of Luhn.
CREATE OR REPLACE TEMP MACRO siret_problem(s) AS CASE
    WHEN s IS NULL THEN NULL
    WHEN NOT regexp_full_match(s, '[0-9]{14}') THEN 'invalid_identifier'
    WHEN starts_with(s, '356000000') THEN CASE
        WHEN list_sum(list_transform(range(14), lambda i: CAST(substr(s, i + 1, 1) AS INTEGER))) % 5 <> 0
            THEN 'invalid_check_digit' END
    WHEN NOT luhn_ok(s) THEN 'invalid_check_digit'
END;

-- NOTE: the key rule of Corsican FINESS numbers (2A/2B) is not published: shape only.
CREATE OR REPLACE TEMP MACRO finess_problem(s) AS CASE
    WHEN s IS NULL THEN NULL
    WHEN NOT regexp_full_match(s, '([0-9]{2}|2A|2B)0[0-9]{6}') THEN 'invalid_identifier'
    WHEN substr(s, 1, 2) IN ('2A', '2B') THEN NULL
    WHEN NOT luhn_ok(s) THEN 'invalid_check_digit'
END;

CREATE OR REPLACE TEMP MACRO address_ok(s) AS
    regexp_full_match(s, '[^@\s<>"]+@[^@\s<>"]+\.[^@\s<>"]+');

-- A control character (NUL, C0, DEL, C1) in an identifier, address or operator name: a key
-- that prints as something else than it is. The problem names the fields holding one; NULL
-- when none does. Free text (names, user agents) keeps them; the CLI strips them when printing.
CREATE OR REPLACE TEMP MACRO control_problem(names, vals) AS CASE
    WHEN regexp_matches(array_to_string(vals, ''), '[\x00-\x1f\x7f-\x{9f}]') THEN {
        'reason': 'invalid_value',
        'detail': 'control character in ' || array_to_string(
            list_filter(names, lambda n, i: regexp_matches(vals[i], '[\x00-\x1f\x7f-\x{9f}]')), ', ')}
END;

CREATE OR REPLACE TEMP MACRO ip_ok(s) AS
    regexp_full_match(s, '([0-9]{1,3}\.){3}[0-9]{1,3}')
    OR regexp_full_match(s, '[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*');

-- ISO 8601 with an offset or Z. The tool never guesses the zone of a canonical timestamp.
CREATE OR REPLACE TEMP MACRO iso_ts(x) AS CASE
    WHEN x IS NULL THEN {'ts': NULL::TIMESTAMPTZ, 'problem': NULL::VARCHAR}
    WHEN NOT regexp_matches(x, '[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$')
        THEN {'ts': NULL::TIMESTAMPTZ,
              'problem': CASE WHEN TRY_CAST(x AS TIMESTAMP) IS NOT NULL THEN 'missing_offset'
                              ELSE 'bad_timestamp' END}
    ELSE {'ts': TRY_CAST(x AS TIMESTAMPTZ),
          'problem': CASE WHEN TRY_CAST(x AS TIMESTAMPTZ) IS NULL THEN 'bad_timestamp' END}
END;

-- Instants the tool can place and show. DuckDB also reads years 0 and 10000 and beyond, which
-- nothing downstream can (a month, a Paris time, the models' open bounds), and an event
-- centuries away from the others stretches every calendar the models and reports build over
-- the traced period. An event (a trace, a delegation change, a snapshot) falls from 1 January
-- 1970 (a clock reset to zero gives exactly that) to the end of 2199, UTC; a validity bound
-- within years 1 to 9999 (an end on 31 December 9999, a common way to say "no end", stays
-- one). Outside: `bad_timestamp`, the row quarantined with the value.
CREATE OR REPLACE TEMP MACRO event_in_range(r) AS CASE
    WHEN NOT year(timezone('UTC', r.ts)) BETWEEN 1970 AND 2199
        THEN {'ts': NULL::TIMESTAMPTZ, 'problem': 'bad_timestamp'}
    ELSE r
END;

CREATE OR REPLACE TEMP MACRO bound_in_range(r) AS CASE
    WHEN NOT year(timezone('UTC', r.ts)) BETWEEN 1 AND 9999
        THEN {'ts': NULL::TIMESTAMPTZ, 'problem': 'bad_timestamp'}
    ELSE r
END;

-- A wall-clock time in zone tz, to UTC. In the fall-back hour the time happens twice
-- (ambiguous), in the spring-forward hour it does not exist: both are problems unless a rule
-- resolves them (ambiguous: earliest|latest; nonexistent: shift_forward, which reads the time
-- with the offset in force before the change, so 02:30 becomes 03:30).
CREATE OR REPLACE TEMP MACRO wall_to_utc(l, tz, ambiguous_rule, nonexistent_rule) AS CASE
    WHEN l IS NULL THEN {'ts': NULL::TIMESTAMPTZ, 'problem': 'bad_timestamp'}
    WHEN timezone(tz, timezone(tz, l)) <> l THEN CASE
        WHEN nonexistent_rule = 'shift_forward' THEN {'ts': timezone(tz, l), 'problem': NULL}
        ELSE {'ts': NULL::TIMESTAMPTZ, 'problem': 'nonexistent_local_time'} END
    WHEN timezone(tz, timezone(tz, l) - INTERVAL 1 HOUR) = l THEN CASE
        WHEN ambiguous_rule = 'earliest' THEN {'ts': timezone(tz, l) - INTERVAL 1 HOUR, 'problem': NULL}
        WHEN ambiguous_rule = 'latest' THEN {'ts': timezone(tz, l), 'problem': NULL}
        ELSE {'ts': NULL::TIMESTAMPTZ, 'problem': 'ambiguous_local_time'} END
    WHEN timezone(tz, timezone(tz, l) + INTERVAL 1 HOUR) = l THEN CASE
        WHEN ambiguous_rule = 'earliest' THEN {'ts': timezone(tz, l), 'problem': NULL}
        WHEN ambiguous_rule = 'latest' THEN {'ts': timezone(tz, l) + INTERVAL 1 HOUR, 'problem': NULL}
        ELSE {'ts': NULL::TIMESTAMPTZ, 'problem': 'ambiguous_local_time'} END
    ELSE {'ts': timezone(tz, l), 'problem': NULL}
END;

CREATE OR REPLACE TEMP MACRO local_ts(x, fmt, tz, ambiguous_rule, nonexistent_rule) AS CASE
    WHEN x IS NULL THEN {'ts': NULL::TIMESTAMPTZ, 'problem': NULL::VARCHAR}
    ELSE wall_to_utc(try_strptime(x, fmt), tz, ambiguous_rule, nonexistent_rule)
END;

-- A validity bound given as a date means a whole day in the export's zone (Europe/Paris for
-- canonical files): a start is that day's
-- midnight, an end is the next day's midnight (exclusive). Midnight is never in a DST gap in
-- France.
CREATE OR REPLACE TEMP MACRO day_bound(d, is_end, tz) AS
    timezone(tz, (d + CASE WHEN is_end THEN INTERVAL 1 DAY ELSE INTERVAL 0 DAY END)::TIMESTAMP);
