-- Time layout of canonical files: instants in ISO 8601 with an offset; bounds may be dates
-- (whole days in Europe/Paris).
CREATE OR REPLACE TEMP MACRO event_ts(x) AS iso_ts(x);

CREATE OR REPLACE TEMP MACRO bound_ts(x, is_end) AS CASE
    WHEN x IS NULL THEN {'ts': NULL::TIMESTAMPTZ, 'problem': NULL::VARCHAR}
    WHEN regexp_full_match(x, '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN CASE
        WHEN TRY_CAST(x AS DATE) IS NULL THEN {'ts': NULL::TIMESTAMPTZ, 'problem': 'bad_timestamp'}
        ELSE {'ts': day_bound(TRY_CAST(x AS DATE), is_end, 'Europe/Paris'), 'problem': NULL::VARCHAR} END
    ELSE iso_ts(x)
END;
