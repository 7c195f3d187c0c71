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
                f"INSERT INTO {Schema.AUDIT}.runs VALUES (?, ?, now(), NULL, 'running', ?)",
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
