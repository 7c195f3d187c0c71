"""The units of work the DAGs call: plain functions of paths and ids, JSON-able results.

Each function opens the warehouse itself under the run lock, so it behaves the same
in `flexemp run` (in-process `dag.test()`) and under a real scheduler (one process
per task).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from pipelines.contract import Schema
from pipelines.dbt_selection import build_args, last_build, project_fingerprint
from pipelines.ingest import Progress, ingest_source
from pipelines.settings import PIPELINE_VERSION, RunPaths
from pipelines.warehouse import connect, ensure_ingest_tables, warehouse_lock

LOCK_WAIT_SECONDS = 600.0


def prepare_run(landing: str, warehouse: str) -> str:
    """Create the ingestion tables and record the run's start; returns the run id."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    path = Path(warehouse)
    with warehouse_lock(path, LOCK_WAIT_SECONDS):
        con = connect(path)
        try:
            ensure_ingest_tables(con)
            con.execute(
                f"INSERT INTO {Schema.AUDIT}.runs (run_id, landing, started_at, status, pipeline_version) "
                "VALUES (?, ?, now(), 'running', ?)",
                [run_id, landing, PIPELINE_VERSION],
            )
        finally:
            con.close()
    return run_id


def ingest(source: str, landing: str, warehouse: str, run_id: str, progress: Progress | None = None) -> dict:
    """Load what is new for one source; see `pipelines.ingest`."""
    path = Path(warehouse)
    with warehouse_lock(path, LOCK_WAIT_SECONDS):
        con = connect(path)
        try:
            return ingest_source(con, landing, source, run_id, progress).as_dict()
        finally:
            con.close()


def check_raw(source: str, warehouse: str, run_id: str) -> dict:
    """Run the raw suite of `source` on the rows this run loaded; raises on a critical failure."""
    from pipelines.checks.suites import raise_on_critical, record_results, run_suite

    path = Path(warehouse)
    with warehouse_lock(path, LOCK_WAIT_SECONDS):
        con = connect(path)
        try:
            loaded = con.execute(
                f"""SELECT count(*) FROM {Schema.AUDIT}.load_ledger
                    WHERE source = ? AND run_id = ? AND status = 'loaded'""",
                [source, run_id],
            ).fetchone()[0]
            if not loaded:
                return {"suite": f"raw_{source}", "success": True, "failed": [], "skipped": "no file loaded"}
            target = (
                f"SELECT * FROM {Schema.RAW}.{source} WHERE load_id IN (SELECT load_id "
                f"FROM {Schema.AUDIT}.load_ledger WHERE source = '{source}' AND run_id = '{run_id}')"
            )
            outcome = run_suite(
                con, f"raw_{source}", target, f"{Schema.RAW}.{source}", RunPaths("", path).artifacts, run_id
            )
            record_results(con, outcome, stage="raw")
        finally:
            con.close()
    raise_on_critical(outcome)
    return {
        "suite": outcome.suite,
        "success": outcome.success,
        "failed": [o.expectation for o in outcome.outcomes if not o.success],
    }


def finish_run(warehouse: str, run_id: str, status: str) -> None:
    path = Path(warehouse)
    with warehouse_lock(path, LOCK_WAIT_SECONDS):
        con = connect(path)
        try:
            con.execute(
                f"UPDATE {Schema.AUDIT}.runs SET finished_at = now(), status = ? WHERE run_id = ?", [status, run_id]
            )
        finally:
            con.close()


def transform(warehouse: str, run_id: str, full_refresh: bool = False) -> dict:
    """Build seeds, models and every dbt test in one `dbt build`, incrementally when possible.

    One build (rather than a task per model through astronomer-cosmos) because
    dbt already orders and tests the nodes, DuckDB takes one writer at a time,
    and per-model processes multiply dbt's start-up cost (docs/architecture.md).

    Incremental models rebuild what changed since the last successful build:
    the newest `loaded_at` that build had seen is kept in `audit.runs.loaded_through`,
    where dbt reads it (macro `changes_since`; as a var it would make dbt re-parse
    the project on every run). A failed build records no watermark, so the next run
    picks the same changes up again. The first build of a project on a warehouse
    (a new release) is a full refresh: the incremental models' kept rows were
    computed by the project before. An incremental table whose columns still
    differ (built by hand with another project) fails the build with a hint to
    run a full refresh. Unchanged reference data is not rebuilt, and nothing at
    all when no load came since a build of this project (`pipelines.dbt_selection`):
    each build records the fingerprint of the project it runs before it starts.
    """
    from pipelines.dbt_runner import DbtError, run_dbt

    path = Path(warehouse)
    with warehouse_lock(path, LOCK_WAIT_SECONDS):
        con = connect(path)
        try:
            since, through = con.execute(
                f"""SELECT (SELECT max(loaded_through) FROM {Schema.AUDIT}.runs),
                           (SELECT max(loaded_at) FROM {Schema.AUDIT}.load_ledger)"""
            ).fetchone()
            fingerprint = project_fingerprint()
            last = last_build(con, fingerprint)
            con.execute(
                f"UPDATE {Schema.AUDIT}.runs SET dbt_project_fingerprint = ? WHERE run_id = ?", [fingerprint, run_id]
            )
        finally:
            con.close()
        args = build_args(full_refresh, last, new_loads=through is not None and through != since)
        try:
            if args is not None:
                run_dbt(args, path)
        except DbtError as exc:
            if "out of sync" not in str(exc):
                raise
            hint = "an incremental table predates this release's columns: run `flexemp run --full-refresh` once"
            raise DbtError(exc.command, [*exc.failures, hint]) from exc
        con = connect(path)
        try:
            con.execute(f"UPDATE {Schema.AUDIT}.runs SET loaded_through = ? WHERE run_id = ?", [through, run_id])
        finally:
            con.close()
    return {
        "run_id": run_id,
        "full_refresh": args is not None and "--full-refresh" in args,
        "changes_since": since.isoformat() if since else None,
        "built": args is not None,
    }


def check_marts(warehouse: str, run_id: str) -> dict:
    """Run every `marts_*` suite on the query its JSON names; raises on a critical failure.

    All suites run and are recorded before the first critical failure is raised,
    so one run shows every broken rule. The months now in the marts are then
    remembered, so a later run that loses one fails `marts_periods_kept`.
    """
    from pipelines.checks.suites import (
        CheckFailed,
        available_suites,
        build_data_docs,
        load_suite,
        raise_on_critical,
        record_results,
        run_suite,
    )

    path = Path(warehouse)
    artifacts = RunPaths("", path).artifacts
    failures: list[CheckFailed] = []
    summary = {}
    with warehouse_lock(path, LOCK_WAIT_SECONDS):
        con = connect(path)
        try:
            con.execute(MART_PERIODS_DDL)
            for suite in (s for s in available_suites() if s.startswith("marts_")):
                target = load_suite(suite)["meta"]["target_sql"]
                outcome = run_suite(con, suite, target, suite, artifacts, run_id, index_columns=())
                record_results(con, outcome, stage="marts")
                summary[suite] = outcome.success
                try:
                    raise_on_critical(outcome)
                except CheckFailed as exc:
                    failures.append(exc)
            if not failures:
                con.execute(
                    f"""INSERT INTO {Schema.AUDIT}.mart_periods
                        SELECT DISTINCT period, ? FROM {Schema.MARTS}.flex_indicators_monthly
                        WHERE period NOT IN (SELECT period FROM {Schema.AUDIT}.mart_periods)""",
                    [run_id],
                )
        finally:
            con.close()
    build_data_docs(artifacts, [run_id])
    if failures:
        raise failures[0]
    return summary


MART_PERIODS_DDL = f"""CREATE TABLE IF NOT EXISTS {Schema.AUDIT}.mart_periods (
    period VARCHAR PRIMARY KEY, first_seen_run_id VARCHAR NOT NULL)"""


def publish(warehouse: str, run_id: str) -> dict:
    """Disclosure-control the marts and record a release in `pub` if a published figure changed,
    then refresh the analyst database (marts + pub + ref) from the completed warehouse.

    See `pipelines.publish`; raises when the audit cannot clear a release. Analysts keep
    reading the previous analyst file until the new one is swapped in whole.
    """
    from pipelines.publish import publish as publish_marts
    from pipelines.query.analyst_db import refresh_analyst_db

    path = Path(warehouse)
    with warehouse_lock(path, LOCK_WAIT_SECONDS):
        con = connect(path)
        try:
            result = publish_marts(con, run_id).as_dict()
        finally:
            con.close()
        result["analyst_db"] = str(refresh_analyst_db(path))
    return result
