"""The publish step: marts -> disclosure control -> candidate publication -> release (if anything changed).

`publish(con, run_id)` is what `flexemp run` ends with (via the `publish` DAG):

1. per table and period, the cells and relations (`suppression.build_cells`),
   primary/secondary suppression and the audit (`suppression.protect`), for
   the periods whose mart rows changed since they were last protected: the
   outcome depends on nothing else, so it is kept in `audit.disclosure_periods`
   (a fingerprint and the audit summary per period) and
   `audit.disclosure_<table>` (each row's conf_status), and a daily run that
   touched two periods audits two periods, not every period of the table;
   a touched period whose suppression pattern comes out as one audited before
   is not audited again either (the summary's `audit_log`: input digest ->
   the cells found derivable);
2. the candidate publication, in SQL over the marts so every column keeps the
   mart's type: `conf_status`, C/D rows with every measure null, the derived
   measures nulled where their inputs are not safe, `vintage`,
   `pipeline_version` and `status`;
3. `releases.record_release`: a new release only when a published figure or
   status changed.

This step reads the marts, `marts.dim_region` (the region hierarchy),
`audit.load_ledger` (the vintage) and `intermediate.int_active_workers_by_occupation`,
an aggregate (not person-level) table: the worker count behind `tightness`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import polars as pl

from pipelines.contract import Schema
from pipelines.publish.releases import ReleaseOutcome, record_release
from pipelines.publish.suppression import DEMAND, TABLES, WORKERS, TableRules, build_cells, protect
from pipelines.settings import PIPELINE_VERSION

PROVISIONAL_PERIODS = 3  # the newest periods of a table are provisional: corrections still arrive
TIGHTNESS_MIN_WORKERS = 10  # same threshold as a worker-table cell
CONF_TABLE = "pub_conf_{table}"  # temp table: key + conf_status of each mart row
KEPT_STATUS = "{schema}.disclosure_{table}"  # key + conf_status of each mart row, as last protected
PERIODS_DDL = f"""CREATE TABLE IF NOT EXISTS {Schema.AUDIT}.disclosure_periods (
    table_name VARCHAR NOT NULL, period VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
    summary JSON NOT NULL, run_id VARCHAR NOT NULL, protected_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (table_name, period))"""


class AuditFailed(RuntimeError):
    """Some confidential figure stayed derivable; nothing is released."""


@dataclass
class PublishResult:
    """What one publish did: the release now current, and whether this run made it."""

    release_id: str | None
    new_release: bool
    vintage: str | None
    rows: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> C / D counts
    audit_passed: bool = True
    audit_suppressions: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def publish(con: duckdb.DuckDBPyConnection, run_id: str) -> PublishResult:
    """Protect the marts and record a release if a published figure or status changed."""
    started = time.perf_counter()
    parents = con.sql(
        f"""SELECT region_code, parent_region_code FROM {Schema.MARTS}.dim_region
            WHERE region_level IN ('macro_region', 'province', 'prefecture')"""
    ).pl()
    audit_detail: dict[str, Any] = {}
    suppressed: dict[str, dict[str, int]] = {}
    extra = 0
    con.execute(PERIODS_DDL)
    for rules in TABLES:
        detail = _protect_table(con, rules, parents, run_id)
        audit_detail[rules.name] = detail
        suppressed[rules.name] = {
            "C": sum(d["primary_rows"] for d in detail.values()),
            "D": sum(d["secondary"] for d in detail.values()),
        }
        extra += sum(d["audit_suppressions"] for d in detail.values())
        failed = [period for period, d in detail.items() if not d["audit_passed"]]
        if failed:
            raise AuditFailed(f"{rules.name}: confidential cells stay derivable in {', '.join(failed)}")

    vintage = con.execute(
        f"SELECT max(delivery_date) FROM {Schema.AUDIT}.load_ledger WHERE status = 'loaded'"
    ).fetchone()[0]
    candidates = {rules.name: _candidate_sql(con, rules) for rules in TABLES}
    outcome: ReleaseOutcome = record_release(
        con,
        candidates,
        vintage=vintage,
        pipeline_version=PIPELINE_VERSION,
        audit_detail={"audit_suppressions": extra, "tables": audit_detail},
        run_id=run_id,
    )
    return PublishResult(
        release_id=outcome.release_id,
        new_release=outcome.new_release,
        vintage=str(outcome.vintage) if outcome.vintage else None,
        rows=outcome.rows,
        suppressed=suppressed,
        audit_passed=True,
        audit_suppressions=extra,
        seconds=round(time.perf_counter() - started, 3),
    )


def _protect_table(
    con: duckdb.DuckDBPyConnection, rules: TableRules, parents: pl.DataFrame, run_id: str
) -> dict[str, Any]:
    """conf_status of every row of one mart into a temp table; the audit summary per period.

    Only the periods whose fingerprint changed are protected again; the others keep the
    statuses and summary they were given (the same inputs give the same outcome).
    """
    kept = KEPT_STATUS.format(schema=Schema.AUDIT, table=rules.name)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {kept} ("
        + ", ".join(f"{k} VARCHAR" for k in rules.key)
        + ", conf_status VARCHAR NOT NULL)"
    )
    fingerprints = _fingerprints(con, rules, parents)
    kept_rows = con.execute(
        f"SELECT period, fingerprint, summary FROM {Schema.AUDIT}.disclosure_periods WHERE table_name = ?",
        [rules.name],
    ).fetchall()
    known = {period: fingerprint for period, fingerprint, _ in kept_rows}
    audited = {digest: leaks for _, _, summary in kept_rows
               for digest, leaks in (json.loads(summary).get("audit_log") or {}).items()}
    stale = sorted(p for p, f in fingerprints.items() if known.get(p) != f)
    gone = sorted(set(known) - set(fingerprints))
    statuses, summaries = _protect_periods(con, rules, parents, stale, audited)
    con.execute("BEGIN TRANSACTION")
    try:
        if stale or gone:
            con.execute(f"DELETE FROM {kept} WHERE period IN (SELECT unnest(?))", [stale + gone])
            con.execute(
                f"DELETE FROM {Schema.AUDIT}.disclosure_periods WHERE table_name = ? AND period IN (SELECT unnest(?))",
                [rules.name, stale + gone],
            )
        if stale:
            con.register("conf_frame", statuses)
            try:
                con.execute(f"INSERT INTO {kept} BY NAME SELECT * FROM conf_frame")
            finally:
                con.unregister("conf_frame")
            con.executemany(
                f"INSERT INTO {Schema.AUDIT}.disclosure_periods VALUES (?, ?, ?, ?, ?, now())",
                [[rules.name, p, fingerprints[p], json.dumps(summaries[p]), run_id] for p in stale],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CONF_TABLE.format(table=rules.name)} AS SELECT * FROM {kept}")
    rows = con.execute(
        f"""SELECT period, summary, run_id FROM {Schema.AUDIT}.disclosure_periods
            WHERE table_name = ? ORDER BY period""",
        [rules.name],
    ).fetchall()
    # audit_log is the step's own memory (input digests, cells found derivable on the way): not release detail
    return {
        period: {**{k: v for k, v in json.loads(summary).items() if k != "audit_log"}, "protected_in_run": by}
        for period, summary, by in rows
    }


def _fingerprints(con: duckdb.DuckDBPyConnection, rules: TableRules, parents: pl.DataFrame) -> dict[str, str]:
    """Per period, a digest of everything its protection depends on.

    The period's rows (keys, counts, contributors) as an order-free sum of row hashes, plus
    the rules, the region hierarchy and the pipeline version: when any of these changes,
    every period is protected again.
    """
    context = hashlib.sha256(repr((rules, PIPELINE_VERSION, parents.sort("region_code").rows())).encode()).hexdigest()[
        :16
    ]
    columns = ", ".join(dict.fromkeys([*rules.key, *rules.counts, rules.contributors]))
    return dict(
        con.execute(
            f"""SELECT period, ? || ':' || count(*) || ':' || CAST(sum(CAST(hash({columns}) AS HUGEINT)) AS VARCHAR)
                FROM {Schema.MARTS}.{rules.name} GROUP BY period""",
            [context],
        ).fetchall()
    )


def _protect_periods(
    con: duckdb.DuckDBPyConnection,
    rules: TableRules,
    parents: pl.DataFrame,
    periods: list[str],
    audited: dict[str, list[str]],
) -> tuple[pl.DataFrame, dict[str, dict[str, Any]]]:
    """Suppression and audit of the given periods: (key + conf_status rows, summary per period).

    `audited`: what the kept audits found (`audit_log` of the kept summaries), so a
    period whose counts moved but whose suppression pattern did not is not audited again.
    """
    columns = ", ".join(dict.fromkeys([*rules.key, *rules.counts, rules.contributors]))
    marts = con.sql(
        f"SELECT {columns} FROM {Schema.MARTS}.{rules.name} WHERE period IN (SELECT unnest($periods)) ORDER BY period",
        params={"periods": periods},
    ).pl()
    statuses = [pl.DataFrame(schema={**{k: pl.String for k in rules.key}, "conf_status": pl.String})]
    summaries: dict[str, dict[str, Any]] = {}
    for (period,), rows in marts.group_by("period", maintain_order=True):
        system = build_cells(rows, parents, rules)
        protection = protect(system, audited)
        statuses.append(
            rows.select(rules.key).with_columns(pl.Series("conf_status", protection.conf_status(rows.height)))
        )
        summary = protection.summary()
        summary["primary_rows"] = int(protection.primary[: system.n_rows].sum())
        summary["residuals"] = system.n_cells - system.n_rows
        summaries[str(period)] = summary
    return pl.concat(statuses, how="vertical_relaxed"), summaries


def _candidate_sql(con: duckdb.DuckDBPyConnection, rules: TableRules) -> str:
    """The SELECT giving the table as it would be published (without release_id).

    Every measure is kept only on free rows; `gender_pay_gap` also needs both
    the F and the M row of its key free (it is their medians' ratio), and
    `tightness` a worker count of at least 10 behind it (it reveals that count).
    """
    mart_columns = [r[0] for r in con.execute(f"DESCRIBE {Schema.MARTS}.{rules.name}").fetchall()]
    conf = CONF_TABLE.format(table=rules.name)
    joins = [f"JOIN {conf} AS c USING ({', '.join(rules.key)})"]
    conditions: dict[str, str] = {}
    if rules is WORKERS:
        same_key = [k for k in rules.key if k != "gender"]
        for alias, gender in (("f", "F"), ("g", "M")):
            on = " AND ".join(f"{alias}.{k} = m.{k}" for k in same_key)
            joins.append(f"LEFT JOIN {conf} AS {alias} ON {alias}.gender = '{gender}' AND {on}")
        conditions["gender_pay_gap"] = "f.conf_status = 'F' AND g.conf_status = 'F'"
    if rules is DEMAND:
        joins.append(
            f"""LEFT JOIN {Schema.INTERMEDIATE}.int_active_workers_by_occupation AS w
                ON w.period = m.period AND w.region_level = m.region_level
                AND w.region_code = m.region_code AND w.occupation_code = m.occupation_code"""
        )
        conditions["tightness"] = f"w.active_workers >= {TIGHTNESS_MIN_WORKERS}"
    selected = []
    for column in mart_columns:
        if column in rules.key:
            selected.append(f"m.{column}")
        else:
            rule = " AND ".join(["c.conf_status = 'F'", *([conditions[column]] if column in conditions else [])])
            selected.append(f"CASE WHEN {rule} THEN m.{column} END AS {column}")
    latest = f"""SELECT DISTINCT period FROM {Schema.MARTS}.{rules.name}
                 ORDER BY period DESC LIMIT {PROVISIONAL_PERIODS}"""
    return f"""SELECT {", ".join(selected)},
                   c.conf_status,
                   CASE WHEN m.period IN ({latest}) THEN 'P' ELSE 'F' END AS status
            FROM {Schema.MARTS}.{rules.name} AS m
            {" ".join(joins)}"""
