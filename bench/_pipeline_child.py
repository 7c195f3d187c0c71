"""One timed `flexemp run`, in its own process, reporting per-stage timings as JSON.

Run by `bench/run_benchmark.py`, which samples this process's memory from outside.
Why not parse `flexemp run`'s output: the CLI prints a rich table for people; the
benchmark needs machine-readable stage timings. So this calls the same entry point
the CLI calls (`pipelines.orchestration.run_pipeline`) with a progress object that
stamps the wall-clock start of each stage, and after each DAG run reads the task
instances' start and end times from Airflow's metadata DB (the `DagOutcome` keeps
only their sum). All times are epoch seconds, so the parent can line them up with
its memory samples.

"Discovery and hashing" is not a separate step inside the pipeline: ingestion hashes
each file in its reader threads while it parses, overlapped with validation. With
`--hash-pass` it is measured apart, before the run: discover every source and sha256
every file the ledger does not know yet, exactly the bytes ingestion will hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")  # as `flexemp run` without --verbose


class StageClock:
    """A `RunProgress` that records when each stage starts (epoch seconds) and ingestion's last count."""

    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []
        self.files_seen: dict[str, tuple[int, int, int]] = {}

    def stage(self, name: str) -> None:
        now = time.time()
        if self.stages:
            self.stages[-1]["end"] = now
        self.stages.append({"name": name, "start": now})

    def files(self, source: str, done: int, total: int, rows: int) -> None:
        self.files_seen[source] = (done, total, rows)

    def finish(self) -> None:
        if self.stages and "end" not in self.stages[-1]:
            self.stages[-1]["end"] = time.time()


def hash_pass(landing: str, warehouse: Path) -> dict[str, dict[str, float]]:
    """Discover each source and hash the files the ledger does not know yet, timed per source."""
    import duckdb

    from pipelines.contract import SOURCES
    from pipelines.landing import discover, read_bytes

    known: set[str] = set()
    if warehouse.exists():
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            known = {r[0] for r in con.execute("SELECT file_path FROM audit.load_ledger").fetchall()}
        except duckdb.Error:
            known = set()
        finally:
            con.close()
    out = {}
    for source in SOURCES:
        started = time.perf_counter()
        files = [f for f in discover(landing, source) if f.path not in known]
        discovered = time.perf_counter()
        size = 0
        for f in files:
            data = read_bytes(landing, f)
            size += len(data)
            hashlib.sha256(data).hexdigest()
        out[source] = {
            "files": len(files),
            "bytes": size,
            "discover_seconds": discovered - started,
            "hash_seconds": time.perf_counter() - discovered,
        }
    return out


def task_times(dag_id: str) -> list[dict[str, Any]]:
    """Start, end and state of each task of the newest run of `dag_id`, from Airflow's metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(1)).first()
        if run is None:
            return []
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
        ).all()
        return sorted(
            (
                {
                    "task_id": ti.task_id,
                    "state": str(ti.state),
                    "start": ti.start_date.timestamp() if ti.start_date else None,
                    "end": ti.end_date.timestamp() if ti.end_date else None,
                }
                for ti in tis
            ),
            key=lambda t: t["start"] or 0.0,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--full-refresh", action="store_true")
    parser.add_argument("--hash-pass", action="store_true", help="time discovery + hashing apart, before the run")
    parser.add_argument("--prepare-only", action="store_true", help="only migrate Airflow's metadata DB (warm-up)")
    parser.add_argument("--keep-dbt-results", type=Path, help="copy the run's dbt run_results.json here, if it built")
    args = parser.parse_args()
    process_start = time.time()

    from pipelines import orchestration
    from pipelines.dbt_runner import dbt_paths

    if args.prepare_only:
        # One-time costs a deployed pipeline has already paid before its daily run: Airflow's metadata DB
        # migration and dbt's parse cache (target/partial_parse.msgpack, same profile and warehouse path).
        from pipelines.dbt_runner import run_dbt

        orchestration.prepare_airflow()
        run_dbt(["parse"], args.warehouse)
        args.json.write_text(json.dumps({"prepared": orchestration.airflow_home().as_posix()}), encoding="utf-8")
        return

    result: dict[str, Any] = {"import_seconds": time.time() - process_start, "dags": {}}
    if args.hash_pass:
        result["hash_start"] = time.time()
        result["hash_pass"] = hash_pass(args.landing, args.warehouse)
        result["hash_end"] = time.time()

    original_run_dag = orchestration.run_dag

    def timed_run_dag(dag_id: str, conf: dict[str, Any]) -> Any:
        try:
            return original_run_dag(dag_id, conf)
        finally:
            result["dags"][dag_id] = {"tasks": task_times(dag_id)}

    orchestration.run_dag = timed_run_dag  # run_pipeline looks it up in the module at call time
    dbt_results = dbt_paths()["target"] / "run_results.json"
    dbt_results.unlink(missing_ok=True)  # an earlier build's: a run that builds nothing writes none
    clock = StageClock()
    started = time.time()
    result["run_start"] = started
    try:
        summary = orchestration.run_pipeline(args.landing, args.warehouse, clock, full_refresh=args.full_refresh)
        result["status"] = summary.status
    except orchestration.StageFailed as failure:
        summary = failure.summary
        result["status"] = "failed"
        result["error"] = str(failure)
    finally:
        clock.finish()
        result["run_end"] = time.time()
        result["run_seconds"] = result["run_end"] - started
        result["stages"] = clock.stages
        if args.keep_dbt_results and dbt_results.exists():
            shutil.copy(dbt_results, args.keep_dbt_results)
    if summary is not None:
        result["run_id"] = summary.run_id
        result["sources"] = {
            s.source: {
                "files_new": s.files_new,
                "files_loaded": s.files_loaded,
                "files_rejected": s.files_rejected,
                "files_duplicate": s.files_duplicate,
                "rows_loaded": s.rows_loaded,
                "rows_quarantined": s.rows_quarantined,
            }
            for s in summary.sources
        }
        for outcome in summary.dag_runs:
            result["dags"].setdefault(outcome.dag_id, {}).update(
                {"seconds": outcome.seconds, "task_seconds": outcome.task_seconds, "state": outcome.state}
            )
    args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if result["status"] != "succeeded":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
