"""Read-only analyst access: a separate analyst database and locked-down queries over it.

Analysts query a copy of the aggregate schemas (`marts`, `pub`, `ref`) rebuilt at
the end of every successful run, never the warehouse itself: DuckDB's lock-down
refuses files, ATTACH and SET but does not hide schemas, so person-level data is
out of reach only because the file analysts open does not contain it.
"""
