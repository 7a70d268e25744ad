-- Spark's versions of the model macros whose DuckDB body means something else on Spark
-- (sql/models/macros.sql holds every macro; a macro here replaces the one of the same name).
-- Written in DuckDB's dialect, like the models: the build step rewrites them the same way.

-- An instant as DuckDB writes a TIMESTAMPTZ in UTC ('2026-03-04 10:20:00.5+00'): Spark's
-- text of a timestamp (the session in UTC) lacks the offset.
CREATE OR REPLACE TEMP MACRO instant_text(ts) AS CAST(ts AS VARCHAR) || '+00';
