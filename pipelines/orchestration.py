"""Run the Airflow DAGs in this process, the way `flexemp run` and the tests do.

`flexemp run` does not need a scheduler: it runs each ingest DAG with Airflow's
`dag.test()`, which executes the real DAG (params, XCom, trigger rules, task
states in the metadata DB) in-process, against a SQLite metadata DB in the work
folder. The same DAG files run unchanged under `airflow standalone` (see README).

Airflow's fixed cost is paid once per process, never per DAG: the metadata DB is
migrated once per AIRFLOW_HOME (a marker file skips it afterwards), the dags folder
is parsed once into a cached DagBag, and the first `dag.test()` of a process builds
Airflow's in-process Execution API (~8-10 s, see README); later DAG runs cost well
under a second of Airflow time each.

Airflow reads its configuration when it is first imported, so everything here that
touches Airflow imports it inside functions, after `configure_airflow()` has set the
environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipelines.contract import SOURCES
from pipelines.settings import DAGS_DIR, work_dir

WAREHOUSE_POOL = "flexemp_warehouse"  # same name as pipelines.dag_factory.WAREHOUSE_POOL
RUN_ORDER = SOURCES  # job_postings, gig_registrations, income_records
LOCK_WAIT_SECONDS = 0.0


class StageFailed(RuntimeError):
    """A DAG run failed; names the DAG, the first failed task and why."""

    def __init__(self, dag_id: str, task_id: str, message: str, returns: dict[str, Any] | None = None) -> None:
        super().__init__(f"{dag_id}.{task_id} failed: {message}")
        self.dag_id = dag_id
        self.task_id = task_id
        self.message = message
        self.returns = returns or {}  # what the DAG run's tasks returned before it failed
        self.summary: RunSummary | None = None  # what the run had done before it failed


class RunProgress(Protocol):
    """What `run_pipeline` reports while it works (the CLI draws it with rich)."""

    def stage(self, name: str) -> None:
        """A new stage starts (e.g. 'ingest_job_postings')."""

    def files(self, source: str, done: int, total: int, rows: int) -> None:
        """Ingestion of `source` has handled `done` of `total` new files, `rows` rows so far."""


@dataclass
class DagOutcome:
    """One in-process DAG run: its state, each task's state and return value, and timings."""

    dag_id: str
    state: str
    task_states: dict[str, str]
    returns: dict[str, Any]
    seconds: float  # wall time of dag.test()
    task_seconds: float  # time Airflow recorded inside the tasks

    @property
    def airflow_seconds(self) -> float:
        """Airflow's own cost for this run: scheduling loop, DB writes, serialisation."""
        return max(self.seconds - self.task_seconds, 0.0)


@dataclass
class SourceSummary:
    """Per source, what ingestion did and which raw checks failed."""

    source: str
    files_new: int = 0
    files_loaded: int = 0
    files_rejected: int = 0
    files_duplicate: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rejected: list[str] = field(default_factory=list)  # "path: error" per rejected file
    failed_checks: list[str] = field(default_factory=list)  # non-critical failures (critical ones raise)

    @classmethod
    def from_returns(cls, source: str, returns: dict[str, Any]) -> SourceSummary:
        """From an ingest DAG run's XCom return values (task id -> value)."""
        ingest = returns.get("ingest") or {}
        check = returns.get("check_raw") or {}
        return cls(
            source=source,
            files_new=ingest.get("files_new", 0),
            files_loaded=ingest.get("files_loaded", 0),
            files_rejected=ingest.get("files_rejected", 0),
            files_duplicate=ingest.get("files_duplicate", 0),
            rows_loaded=ingest.get("rows_loaded", 0),
            rows_quarantined=ingest.get("rows_quarantined", 0),
            rejected=list(ingest.get("rejected", [])),
            failed_checks=list(check.get("failed", [])),
        )


@dataclass
class RunSummary:
    """What one `flexemp run` did."""

    run_id: str
    landing: str
    warehouse: Path
    sources: list[SourceSummary] = field(default_factory=list)
    dag_runs: list[DagOutcome] = field(default_factory=list)
    status: str = "running"
    seconds: float = 0.0


# --- Airflow set-up --------------------------------------------------------------------------


def airflow_home() -> Path:
    """AIRFLOW_HOME: the caller's, or `<work folder>/airflow` (never the repo or ~/airflow)."""
    return Path(os.environ.get("AIRFLOW_HOME") or work_dir() / "airflow").resolve()


def airflow_env(home: Path) -> dict[str, str]:
    """The Airflow settings flexemp runs with; the Makefile's `airflow` target sets the same."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "SCARF_ANALYTICS": "false",  # no telemetry (and no internet)
        "DO_NOT_TRACK": "true",
    }


def configure_airflow() -> Path:
    """Point Airflow at the work folder before it is imported; explicit env vars win.

    Raises when Airflow was already imported with another AIRFLOW_HOME: its
    configuration is read once per process, so a late change would be silently ignored.
    """
    home = airflow_home()
    home.mkdir(parents=True, exist_ok=True)
    for key, value in airflow_env(home).items():
        os.environ.setdefault(key, value)
    if "airflow.configuration" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME

        if Path(AIRFLOW_HOME).resolve() != home:
            raise RuntimeError(
                f"Airflow was imported with AIRFLOW_HOME={AIRFLOW_HOME} before flexemp could set {home}; "
                "set AIRFLOW_HOME before importing Airflow"
            )
    return home


@functools.cache
def prepare_airflow() -> Path:
    """Configure Airflow, migrate its metadata DB once, create the warehouse pool; once per process."""
    home = configure_airflow()
    warnings.filterwarnings("ignore", module="fastapi.testclient")  # raised by the in-process API
    _migrate_once(home)

    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        WAREHOUSE_POOL, slots=1, description="one writer of the DuckDB warehouse at a time", include_deferred=False
    )
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager().add_listener(_failure_listener())
    return home


def _migrate_once(home: Path) -> None:
    """`airflow db migrate`, skipped when this Airflow version already migrated this DB.

    Migration costs several seconds even when there is nothing to do; the marker
    records the Airflow version and DB URL it was done for. A file lock keeps two
    processes sharing AIRFLOW_HOME from migrating at once.
    """
    import airflow
    from airflow import settings

    url = settings.SQL_ALCHEMY_CONN or ""
    key = hashlib.sha256(f"{airflow.__version__} {url}".encode()).hexdigest()[:16]
    marker = home / f".flexemp-db-migrated-{key}"
    db_file = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if marker.exists() and (db_file is None or db_file.exists()):
        return
    with open(home / ".flexemp-db-migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and (db_file is None or db_file.exists()):
            return
        from airflow.utils.db import upgradedb

        upgradedb()
        marker.write_text(f"airflow {airflow.__version__}\n{url}\n")


_task_errors: dict[tuple[str, str, str], str] = {}  # (dag_id, run_id, task_id) -> exception text


def _failure_listener() -> object:
    """An Airflow listener keeping each failed task's exception: `dag.test()` logs it but drops it."""
    from airflow.listeners import hookimpl

    class FailureListener:
        @hookimpl
        def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
            key = (task_instance.dag_id, task_instance.run_id, task_instance.task_id)
            _task_errors[key] = str(error) if error else "failed"

    return FailureListener()


# --- Running DAGs ----------------------------------------------------------------------------


@functools.cache
def _dagbag() -> Any:
    """Parse the dags folder once per process; an import error stops here, named."""
    prepare_airflow()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise StageFailed("dagbag", path, error.strip().splitlines()[-1])
    return bag


def run_dag(dag_id: str, conf: dict[str, Any]) -> DagOutcome:
    """Run one DAG in-process with `dag.test(run_conf=conf)`; raise `StageFailed` if it fails."""
    bag = _dagbag()
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise StageFailed(dag_id, "-", f"no such DAG in {DAGS_DIR} (found: {', '.join(sorted(bag.dag_ids))})")

    started = time.perf_counter()
    dag_run = dag.test(run_conf=conf)
    seconds = time.perf_counter() - started

    tis = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    outcome = DagOutcome(
        dag_id=dag_id,
        state=str(dag_run.state),
        task_states={t.task_id: str(tis[t.task_id].state) for t in dag.tasks if t.task_id in tis},
        returns=_return_values(dag_id, dag_run.run_id),
        seconds=seconds,
        task_seconds=sum(
            (ti.end_date - ti.start_date).total_seconds() for ti in tis.values() if ti.start_date and ti.end_date
        ),
    )
    if outcome.state != "success":
        task_id, message = _first_failure(dag, dag_run.run_id, outcome.task_states)
        raise StageFailed(dag_id, task_id, message, outcome.returns)
    return outcome


def _return_values(dag_id: str, run_id: str) -> dict[str, Any]:
    """Every task's XCom return value of one DAG run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, key="return_value")).all()
        return {row.task_id: XComModel.deserialize_value(row) for row in rows}


def _first_failure(dag: Any, run_id: str, task_states: dict[str, str]) -> tuple[str, str]:
    """The first task (in DAG order) that failed itself, and its exception message."""
    failed = [t for t, s in task_states.items() if s == "failed"]
    if not failed:
        return "-", f"DAG run ended {task_states}"
    task_id = failed[0]
    return task_id, _task_errors.get((dag.dag_id, run_id, task_id), "failed (see the log above)")


# --- The whole run ---------------------------------------------------------------------------

_progress: RunProgress | None = None


def ingest_progress(source: str) -> Any:
    """The progress callback for `pipelines.tasks.ingest`, when a CLI run in this process wants one.

    Only an in-process run (`run_pipeline`) can show progress: under a real scheduler
    each task runs in its own worker process and this returns None.
    """
    progress = _progress
    if progress is None:
        return None

    def report(done: int, total: int, rows: int) -> None:
        progress.files(source, done, total, rows)

    return report


@contextlib.contextmanager
def _reporting_to(progress: RunProgress | None) -> Iterator[None]:
    global _progress
    previous, _progress = _progress, progress
    try:
        yield
    finally:
        _progress = previous


def run_pipeline(
    landing: str,
    warehouse: Path,
    progress: RunProgress | None = None,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    full_refresh: bool = False,
) -> RunSummary:
    """One flexemp run: open it, run the three ingest DAGs in order, then transform, close it.

    The run lock is held for the whole run, so no other run writes the warehouse in
    between the DAGs; the tasks take it again re-entrantly. Raises `WarehouseBusy`
    when another run holds it after `wait_seconds`, and `StageFailed` (with the
    summary so far) when a DAG fails; the run is then recorded as failed.
    """
    from pipelines.tasks import finish_run, prepare_run
    from pipelines.warehouse import warehouse_lock

    warehouse = warehouse.resolve()
    started = time.perf_counter()
    with warehouse_lock(warehouse, wait_seconds), _reporting_to(progress):
        _stage(progress, "preparing Airflow")
        prepare_airflow()
        _dagbag()
        _stage(progress, "opening the run")
        run_id = prepare_run(landing, str(warehouse))
        summary = RunSummary(run_id=run_id, landing=landing, warehouse=warehouse)
        try:
            for source in RUN_ORDER:
                dag_id = f"ingest_{source}"
                _stage(progress, dag_id)
                try:
                    outcome = run_dag(dag_id, {"landing": landing, "warehouse": str(warehouse), "run_id": run_id})
                except StageFailed as failure:
                    summary.sources.append(SourceSummary.from_returns(source, failure.returns))
                    raise
                summary.dag_runs.append(outcome)
                summary.sources.append(SourceSummary.from_returns(source, outcome.returns))
            _stage(progress, "transform")
            conf = {"landing": landing, "warehouse": str(warehouse), "run_id": run_id, "full_refresh": full_refresh}
            summary.dag_runs.append(run_dag("transform", conf))
            _stage(progress, "publish")
            conf = {"landing": landing, "warehouse": str(warehouse), "run_id": run_id}
            summary.dag_runs.append(run_dag("publish", conf))
        except BaseException as exc:
            summary.status = "failed"
            summary.seconds = time.perf_counter() - started
            finish_run(str(warehouse), run_id, "failed")
            if isinstance(exc, StageFailed):
                exc.summary = summary
            raise
        finish_run(str(warehouse), run_id, "succeeded")
    summary.status = "succeeded"
    summary.seconds = time.perf_counter() - started
    return summary


def _stage(progress: RunProgress | None, name: str) -> None:
    if progress is not None:
        progress.stage(name)


if __name__ == "__main__":
    # `python -m pipelines.orchestration`: prepare AIRFLOW_HOME for `airflow standalone` (make airflow).
    print(f"Airflow ready in {prepare_airflow()} (metadata DB migrated, pool {WAREHOUSE_POOL} = 1 slot)")
