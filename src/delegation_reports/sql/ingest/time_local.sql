-- Time layout of a profile that writes wall-clock times: {timestamp_format}, {date_format},
-- {timezone}, {ambiguous} and {nonexistent} are SQL literals of the profile's validated
-- settings.
CREATE OR REPLACE TEMP MACRO event_ts(x) AS
    local_ts(x, {timestamp_format}, {timezone}, {ambiguous}, {nonexistent});

CREATE OR REPLACE TEMP MACRO bound_ts(x, is_end) AS CASE
    WHEN x IS NULL THEN {{'ts': NULL::TIMESTAMPTZ, 'problem': NULL::VARCHAR}}
    WHEN try_strptime(x, {date_format}) IS NOT NULL
        THEN {{'ts': day_bound(try_strptime(x, {date_format})::DATE, is_end, {timezone}), 'problem': NULL::VARCHAR}}
    ELSE local_ts(x, {timestamp_format}, {timezone}, {ambiguous}, {nonexistent})
END;
