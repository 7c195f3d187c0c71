"""Releases of the `pub` schema: compare a candidate publication with the latest release, record a new one.

A release is recorded only when a published figure, a confidentiality status
or a P/F status changed (spec: "a run over no new data changes nothing"): a
new delivery that changes no published figure, or a new pipeline version that
computes the same figures, makes no release. Everything a release writes is
one transaction, so a run killed half-way leaves the previous release intact:

- `pub.releases`: one row per release (id, vintage, pipeline_version,
  released_at, audit result, rows per table, the run that made it);
- `pub.<table>`: the latest release, with its `release_id`;
- `pub.<table>_history`: every row of every release, appended, never rewritten;
- `pub.revisions`: per table, key and measure, the first released value and
  the latest (with their release ids and confidentiality statuses) and
  whether they differ;
- `pub.dim_*`: copies of the mart dimensions the tables refer to.

Release ids are `R0001`, `R0002`, ...: monotonic, ordered by their number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from pipelines.contract import Schema

DIMENSIONS = ("dim_region", "dim_occupation", "dim_platform", "dim_period")
STATUS_COLUMNS = ("conf_status", "status")  # carried by every candidate row besides its key and measures
REVISION_KEYS = ("period", "region_level", "region_code", "age_cohort", "gender", "occupation_code")
CANDIDATE = "pub_candidate_{table}"  # temp table holding a table's candidate rows

RELEASES_DDL = f"""CREATE TABLE IF NOT EXISTS {Schema.PUB}.releases (
    release_id VARCHAR PRIMARY KEY,
    vintage DATE,
    pipeline_version VARCHAR NOT NULL,
    released_at TIMESTAMPTZ NOT NULL,
    audit_passed BOOLEAN NOT NULL,
    audit_detail JSON,
    flex_indicators_monthly_rows BIGINT NOT NULL,
    labor_demand_monthly_rows BIGINT NOT NULL,
    run_id VARCHAR)"""

REVISIONS_DDL = f"""CREATE TABLE IF NOT EXISTS {Schema.PUB}.revisions (
    table_name VARCHAR NOT NULL, period VARCHAR NOT NULL, region_level VARCHAR NOT NULL,
    region_code VARCHAR NOT NULL, age_cohort VARCHAR, gender VARCHAR, occupation_code VARCHAR,
    measure VARCHAR NOT NULL,
    first_value DOUBLE, first_conf_status VARCHAR, first_release_id VARCHAR NOT NULL,
    latest_value DOUBLE, latest_conf_status VARCHAR, latest_release_id VARCHAR NOT NULL,
    changed BOOLEAN NOT NULL)"""


@dataclass
class ReleaseOutcome:
    """The release current after `record_release`, and whether it was made just now."""

    release_id: str | None
    new_release: bool
    vintage: date | None
    rows: dict[str, int] = field(default_factory=dict)


def record_release(
    con: duckdb.DuckDBPyConnection,
    candidates: dict[str, str],
    *,
    vintage: date | None,
    pipeline_version: str,
    audit_detail: dict[str, Any],
    run_id: str,
) -> ReleaseOutcome:
    """Record `candidates` (table name -> SELECT of its rows) as a new release if they differ from the latest."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {Schema.PUB}")
    con.execute(RELEASES_DDL)
    for table, select in candidates.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {CANDIDATE.format(table=table)} AS {select}")
    rows = {
        table: con.execute(f"SELECT count(*) FROM {CANDIDATE.format(table=table)}").fetchone()[0]
        for table in candidates
    }
    current = latest_release(con)
    if current is not None and not any(_differs(con, table) for table in candidates):
        return ReleaseOutcome(current["release_id"], False, current["vintage"], _current_rows(con, current))

    release_id = _next_release_id(con)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"""INSERT INTO {Schema.PUB}.releases VALUES (?, ?, ?, now(), true, ?, ?, ?, ?)""",
            [
                release_id,
                vintage,
                pipeline_version,
                json.dumps(audit_detail, default=str),
                rows.get("flex_indicators_monthly", 0),
                rows.get("labor_demand_monthly", 0),
                run_id,
            ],
        )
        for table in candidates:
            _write_table(con, table, release_id, vintage, pipeline_version)
        _update_revisions(con, candidates, release_id)
        for dimension in DIMENSIONS:
            con.execute(f"CREATE OR REPLACE TABLE {Schema.PUB}.{dimension} AS SELECT * FROM {Schema.MARTS}.{dimension}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return ReleaseOutcome(release_id, True, vintage, rows)


def latest_release(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The newest row of pub.releases (by release number), or None before the first release."""
    row = con.execute(
        f"""SELECT release_id, vintage, flex_indicators_monthly_rows, labor_demand_monthly_rows
            FROM {Schema.PUB}.releases ORDER BY CAST(substr(release_id, 2) AS INTEGER) DESC LIMIT 1"""
    ).fetchone()
    if row is None:
        return None
    return {
        "release_id": row[0],
        "vintage": row[1],
        "flex_indicators_monthly_rows": row[2],
        "labor_demand_monthly_rows": row[3],
    }


def _current_rows(con: duckdb.DuckDBPyConnection, current: dict[str, Any]) -> dict[str, int]:
    return {t: current[f"{t}_rows"] for t in ("flex_indicators_monthly", "labor_demand_monthly")}


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()]


def _differs(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Does the candidate differ from the latest release in any key, figure or status?"""
    if not _table_exists(con, Schema.PUB, table):
        return True
    candidate = CANDIDATE.format(table=table)
    columns = _columns(con, candidate)
    if not set(columns) <= set(_columns(con, f"{Schema.PUB}.{table}")):
        return True  # a new column is a change of the publication
    cols = ", ".join(columns)
    published = f"{Schema.PUB}.{table}"
    changed = con.execute(
        f"""SELECT count(*) FROM (
                (SELECT {cols} FROM {candidate} EXCEPT SELECT {cols} FROM {published})
                UNION ALL
                (SELECT {cols} FROM {published} EXCEPT SELECT {cols} FROM {candidate}))"""
    ).fetchone()[0]
    return changed > 0


def _next_release_id(con: duckdb.DuckDBPyConnection) -> str:
    last = con.execute(f"SELECT max(CAST(substr(release_id, 2) AS INTEGER)) FROM {Schema.PUB}.releases").fetchone()[0]
    return f"R{(last or 0) + 1:04d}"


def _write_table(
    con: duckdb.DuckDBPyConnection, table: str, release_id: str, vintage: date | None, pipeline_version: str
) -> None:
    """Replace the latest table and append the release to its history."""
    candidate = CANDIDATE.format(table=table)
    con.execute(
        f"""CREATE OR REPLACE TABLE {Schema.PUB}.{table} AS
            SELECT *, CAST(? AS DATE) AS vintage, CAST(? AS VARCHAR) AS pipeline_version,
                   CAST(? AS VARCHAR) AS release_id
            FROM {candidate}""",
        [vintage, pipeline_version, release_id],
    )
    history = f"{Schema.PUB}.{table}_history"
    con.execute(f"CREATE TABLE IF NOT EXISTS {history} AS SELECT * FROM {Schema.PUB}.{table} WHERE false")
    con.execute(f"INSERT INTO {history} BY NAME SELECT * FROM {Schema.PUB}.{table}")


def _update_revisions(con: duckdb.DuckDBPyConnection, candidates: dict[str, str], release_id: str) -> None:
    """Fold the new release into pub.revisions: keep each figure's first value, replace its latest."""
    con.execute(REVISIONS_DDL)
    parts = []
    for table in candidates:
        candidate = CANDIDATE.format(table=table)
        columns = _columns(con, candidate)
        keys = [k if k in columns else f"CAST(NULL AS VARCHAR) AS {k}" for k in REVISION_KEYS]
        measures = [c for c in columns if c not in REVISION_KEYS and c not in STATUS_COLUMNS]
        names = ", ".join(f"'{m}'" for m in measures)
        values = ", ".join(f"CAST({m} AS DOUBLE)" for m in measures)
        parts.append(
            f"""SELECT '{table}' AS table_name, {", ".join(keys)},
                       unnest([{names}]) AS measure, unnest([{values}]) AS value, conf_status
                FROM {candidate}"""
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE pub_revision_input AS {' UNION ALL '.join(parts)}")
    key_columns = ("table_name", *REVISION_KEYS, "measure")
    on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM n.{k}" for k in key_columns)
    keys = ", ".join(f"coalesce(o.{k}, n.{k}) AS {k}" for k in key_columns)
    con.execute(
        f"""CREATE OR REPLACE TABLE {Schema.PUB}.revisions AS
            SELECT *, (first_value IS DISTINCT FROM latest_value
                       OR first_conf_status IS DISTINCT FROM latest_conf_status) AS changed
            FROM (
                SELECT {keys},
                    CASE WHEN o.table_name IS NULL THEN n.value ELSE o.first_value END AS first_value,
                    CASE WHEN o.table_name IS NULL THEN n.conf_status ELSE o.first_conf_status END
                        AS first_conf_status,
                    CASE WHEN o.table_name IS NULL THEN $release ELSE o.first_release_id END AS first_release_id,
                    CASE WHEN n.table_name IS NULL THEN o.latest_value ELSE n.value END AS latest_value,
                    CASE WHEN n.table_name IS NULL THEN o.latest_conf_status ELSE n.conf_status END
                        AS latest_conf_status,
                    CASE WHEN n.table_name IS NULL THEN o.latest_release_id ELSE $release END AS latest_release_id
                FROM {Schema.PUB}.revisions AS o
                FULL OUTER JOIN pub_revision_input AS n ON {on}
            )""",
        {"release": release_id},
    )
