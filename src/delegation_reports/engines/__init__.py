"""Running the SQL models on other engines than the embedded DuckDB.

The model files under ``sql/models`` are written in DuckDB's dialect and stay the single
source. ``spark_sql`` turns them into Spark SQL: macros expanded, then every construct whose
meaning differs between the two dialects rewritten (see ``spark_sql.REWRITES``), then written
out by sqlglot.
"""
