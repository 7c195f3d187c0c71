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
  whether they differ. Updated, not rewritten: the rows of the figures a
  release changed are merged again, and the others only take the new release
  id (the figures at 1M workers are 2.5M rows; rewriting them every daily
  release took ~2.5 s);
- `pub.dim_*`: copies of the mart dimensions the tables refer to.

Release ids are `R0001`, `R0002`, ...: monotonic, ordered by their number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from pipelines.contract import Schema

DIMENSIONS = ("dim_region", "dim_occupation", "dim_platform", "dim_period")
STATUS_COLUMNS = ("conf_status", "status")  # carried by every candidate row besides its key and measures
REVISION_KEYS = ("period", "region_level", "region_code", "age_cohort", "gender", "occupation_code")
CANDIDATE = "pub_candidate_{table}"  # temp table holding a table's candidate rows
RELEASE_COLUMNS = ("vintage", "pipeline_version", "release_id")  # what a release adds to a candidate's columns
CHANGED = "pub_changed_{table}"  # temp table: candidate rows new or changed against the latest release
VANISHED = "pub_vanished_{table}"  # temp table: keys the latest release published that the candidate lacks

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
    changes = []
    for table in candidates:
        candidate = CANDIDATE.format(table=table)
        published = f"{Schema.PUB}.{table}" if _table_exists(con, Schema.PUB, table) else None
        changes.append(_changes(con, table, candidate, published, _columns(con, candidate)))
    if current is not None and not any(change.any for change in changes):
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
        con.execute(REVISIONS_DDL)
        previous = None if current is None else current["release_id"]
        for change in changes:
            _update_revisions(con, change, f"{Schema.PUB}.revisions", release_id, previous)
        for table in candidates:
            _write_table(con, table, release_id, vintage, pipeline_version)
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


@dataclass(frozen=True)
class _TableChanges:
    """A candidate table against the latest release: its new or changed rows (CHANGED) and the keys it no
    longer has (VANISHED), as temp tables. Every candidate row counts as changed when the table is new or
    has a new column (a change of the publication)."""

    table: str
    keys: tuple[str, ...]
    measures: tuple[str, ...]
    changed_rows: int
    vanished_keys: int

    @property
    def any(self) -> bool:
        return self.changed_rows > 0 or self.vanished_keys > 0


def _changes(
    con: duckdb.DuckDBPyConnection, table: str, candidate: str, published: str | None, columns: Sequence[str]
) -> _TableChanges:
    """Compare `candidate` with `published` (the latest release of `table`, None before its first) on the
    candidate's `columns`."""
    changed, vanished = CHANGED.format(table=table), VANISHED.format(table=table)
    keys = tuple(k for k in REVISION_KEYS if k in columns)
    cols, key_cols = ", ".join(columns), ", ".join(keys)
    if published is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {changed} AS SELECT {cols} FROM {candidate}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {vanished} AS SELECT {key_cols} FROM {candidate} WHERE false")
    else:
        comparable = set(columns) <= set(_columns(con, published))
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {changed} AS
                SELECT {cols} FROM {candidate}
                {f"EXCEPT SELECT {cols} FROM {published}" if comparable else ""}"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {vanished} AS
                SELECT {key_cols} FROM {published} EXCEPT SELECT {key_cols} FROM {candidate}"""
        )
    count = "SELECT count(*) FROM {}"
    return _TableChanges(
        table=table,
        keys=keys,
        measures=tuple(c for c in columns if c not in REVISION_KEYS and c not in STATUS_COLUMNS),
        changed_rows=con.execute(count.format(changed)).fetchone()[0],
        vanished_keys=con.execute(count.format(vanished)).fetchone()[0],
    )


def fold_into_revisions(
    con: duckdb.DuckDBPyConnection,
    revisions: str,
    *,
    table: str,
    released: str,
    previous: str,
    release_id: str,
    previous_release_id: str,
) -> None:
    """Fold one release of `table` into a copy of pub.revisions made at the release before it, as
    record_release folded it into pub.revisions: `released` holds the table as released (a `pub.<table>`),
    `previous` as the release before (the copy's own `pub.<table>`). The analyst database's next build
    brings its copy forward this way instead of copying every figure again."""
    columns = [c for c in _columns(con, released) if c not in RELEASE_COLUMNS]
    change = _changes(con, table, released, previous, columns)
    _update_revisions(con, change, revisions, release_id, previous_release_id)


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


def _update_revisions(
    con: duckdb.DuckDBPyConnection,
    change: _TableChanges,
    revisions: str,
    release_id: str,
    previous_release_id: str | None,
) -> None:
    """Fold a table's new release into pub.revisions: keep each figure's first value, replace its latest.

    Every figure the previous release published and this one still does takes the new release id; those it
    no longer publishes keep theirs. The changed rows' figures are then merged again (first value kept,
    latest replaced), new ones inserted."""
    table = change.table
    revision_keys = ("table_name", *REVISION_KEYS, "measure")
    key_columns = [k if k in change.keys else f"CAST(NULL AS VARCHAR) AS {k}" for k in REVISION_KEYS]
    names = ", ".join(f"'{m}'" for m in change.measures)
    values = ", ".join(f"CAST({m} AS DOUBLE)" for m in change.measures)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE pub_revision_input AS
            SELECT '{table}' AS table_name, {", ".join(key_columns)},
                   unnest([{names}]) AS measure, unnest([{values}]) AS value, conf_status
            FROM {CHANGED.format(table=table)}"""
    )
    if previous_release_id is not None:
        vanished_on = " AND ".join(f"r.{k} IS NOT DISTINCT FROM v.{k}" for k in change.keys)
        con.execute(
            f"""UPDATE {revisions} SET latest_release_id = $release
                WHERE table_name = $table AND latest_release_id = $previous AND measure IN ({names})""",
            {"release": release_id, "table": table, "previous": previous_release_id},
        )
        con.execute(
            f"""UPDATE {revisions} AS r SET latest_release_id = $previous
                FROM {VANISHED.format(table=table)} AS v
                WHERE r.table_name = $table AND r.latest_release_id = $release AND {vanished_on}""",
            {"release": release_id, "table": table, "previous": previous_release_id},
        )
    on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM n.{k}" for k in revision_keys)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE pub_revision_merged AS
            SELECT *, (first_value IS DISTINCT FROM latest_value
                       OR first_conf_status IS DISTINCT FROM latest_conf_status) AS changed
            FROM (
                SELECT {", ".join(f"n.{k}" for k in revision_keys)},
                    CASE WHEN o.table_name IS NULL THEN n.value ELSE o.first_value END AS first_value,
                    CASE WHEN o.table_name IS NULL THEN n.conf_status ELSE o.first_conf_status END
                        AS first_conf_status,
                    CASE WHEN o.table_name IS NULL THEN $release ELSE o.first_release_id END AS first_release_id,
                    n.value AS latest_value,
                    n.conf_status AS latest_conf_status,
                    $release AS latest_release_id
                FROM pub_revision_input AS n
                LEFT JOIN (SELECT * FROM {revisions} WHERE table_name = $table) AS o ON {on}
            )""",
        {"release": release_id, "table": table},
    )
    con.execute(f"DELETE FROM {revisions} AS o USING pub_revision_input AS n WHERE {on}")
    con.execute(f"INSERT INTO {revisions} BY NAME SELECT * FROM pub_revision_merged")
