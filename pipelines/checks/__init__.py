"""Data checks: Great Expectations suites run inside DuckDB on the pipeline's own connection."""
