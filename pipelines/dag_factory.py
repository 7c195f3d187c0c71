"""Build the per-source ingest DAGs, so the three DAG files stay a few declarative lines.

Each DAG is the same four steps for one source:

    open_run -> ingest -> check_raw -> close_run

`open_run` adopts the run id passed in the run's conf (the `flexemp` CLI opens one
run around all three sources) or, when triggered on its own by a scheduler, opens
a run itself; `close_run` then records how that run ended. Every task that writes
the warehouse runs in the Airflow pool `flexemp_warehouse` (1 slot), so a real
scheduler never lets two writers collide; the OS run lock in `pipelines.warehouse`
covers everything else. The ingest task declares one Asset per raw table, so a
transform DAG can be scheduled on the three raw assets.

Only Airflow's authoring API is imported here: `pipelines.tasks` (DuckDB, Polars,
Great Expectations) is imported inside the tasks, so parsing a DAG file stays fast.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Asset, Param, dag, task

from pipelines.contract import SOURCES, Schema
from pipelines.settings import work_dir

WAREHOUSE_POOL = "flexemp_warehouse"
TASK_IDS = ("open_run", "ingest", "check_raw", "close_run")
START_DATE = datetime(2025, 1, 1, tzinfo=UTC)


def raw_asset(source: str) -> Asset:
    """The Asset a raw table stands for; a transform DAG schedules on these."""
    return Asset(f"flexemp://warehouse/{Schema.RAW}/{source}")


def default_landing() -> str:
    """Where a scheduler-triggered run reads deliveries: FLEXEMP_LANDING or the demo tree."""
    return os.environ.get("FLEXEMP_LANDING", str(work_dir() / "demo" / "landing"))


def default_warehouse() -> str:
    """The warehouse a scheduler-triggered run writes: FLEXEMP_WAREHOUSE or the demo file."""
    return os.environ.get("FLEXEMP_WAREHOUSE", str(work_dir() / "demo" / "flexemp.duckdb"))


def run_params() -> dict[str, Param]:
    """The params every flexemp DAG takes: where to read, where to write, which run."""
    return {
        "landing": Param(default_landing(), type="string", description="landing root (folder or s3:// URL)"),
        "warehouse": Param(default_warehouse(), type="string", description="DuckDB warehouse file"),
        "run_id": Param(
            None,
            type=["null", "string"],
            description="flexemp run to work under; empty: this DAG opens (and closes) its own run",
        ),
    }


@task(pool=WAREHOUSE_POOL)
def open_run(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Adopt the caller's run, or open one when triggered on our own."""
    assert params is not None
    run = {"landing": params["landing"], "warehouse": params["warehouse"], "run_id": params["run_id"]}
    run["owned"] = not run["run_id"]
    if run["owned"]:
        from pipelines.tasks import prepare_run

        run["run_id"] = prepare_run(run["landing"], run["warehouse"])
    return run


@task(pool=WAREHOUSE_POOL, trigger_rule="all_done")
def close_run(run: dict[str, Any], steps: list[str], dag_run: Any = None, ti: Any = None) -> None:
    """Record the end of a run this DAG opened; fail the DAG run if a step failed.

    It runs whatever happened upstream (all_done) so a self-opened run is never
    left 'running'; and because it is the DAG's only leaf, it must fail itself
    when a step failed, or Airflow would mark the DAG run a success.
    """
    failed = ti.get_ti_count(
        dag_id=dag_run.dag_id,
        run_ids=[dag_run.run_id],
        task_ids=steps,
        states=["failed", "upstream_failed"],
    )
    if run["owned"]:
        from pipelines.tasks import finish_run

        finish_run(run["warehouse"], run["run_id"], "failed" if failed else "succeeded")
    if failed:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{failed} step(s) of {dag_run.dag_id} failed")


def build_ingest_dag(source: str) -> DAG:
    """The ingest DAG of one source: `ingest_<source>`."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")

    @dag(
        dag_id=f"ingest_{source}",
        description=f"Load new {source} deliveries into raw/quarantine and check them.",
        schedule="@daily",  # platforms deliver once a day
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["flexemp", "ingest"],
        params=run_params(),
        doc_md=__doc__,
    )
    def ingest_dag() -> None:
        @task(pool=WAREHOUSE_POOL, outlets=[raw_asset(source)])
        def ingest(run: dict[str, Any]) -> dict[str, Any]:
            """Load every file of this source that the ledger does not know yet."""
            from pipelines.orchestration import ingest_progress
            from pipelines.tasks import ingest as ingest_source

            return ingest_source(
                source, run["landing"], run["warehouse"], run["run_id"], progress=ingest_progress(source)
            )

        @task(pool=WAREHOUSE_POOL)
        def check_raw(run: dict[str, Any]) -> dict[str, Any]:
            """Run the raw GX suite on what this run loaded; fails the task on a critical failure."""
            from pipelines.tasks import check_raw as check

            return check(source, run["warehouse"], run["run_id"])

        run = open_run()
        ingest(run) >> check_raw(run) >> close_run(run, steps=["ingest", "check_raw"])

    return ingest_dag()


MARTS_ASSET = Asset(f"flexemp://warehouse/{Schema.MARTS}")


def build_transform_dag() -> DAG:
    """The transform DAG: one `dbt build` (models, seeds, dbt tests), then the mart GX suites.

    Scheduled on the three raw assets (data-aware scheduling): it runs once all
    three sources have been ingested since its last run.
    """

    @dag(
        dag_id="transform",
        description="Build the dbt project (staging, intermediate, marts, dq) and check the marts.",
        schedule=[raw_asset(source) for source in SOURCES],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["flexemp", "transform"],
        params={
            **run_params(),
            "full_refresh": Param(False, type="boolean", description="rebuild incremental models from scratch"),
        },
        doc_md=build_transform_dag.__doc__,
    )
    def transform_dag() -> None:
        @task(pool=WAREHOUSE_POOL)
        def dbt_build(run: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
            """Build and test every dbt node in dependency order."""
            from pipelines.tasks import transform

            assert params is not None
            return transform(run["warehouse"], run["run_id"], full_refresh=bool(params["full_refresh"]))

        @task(pool=WAREHOUSE_POOL, outlets=[MARTS_ASSET])
        def check_marts(run: dict[str, Any]) -> dict[str, Any]:
            """Run the mart GX suites; fails the task on a critical failure."""
            from pipelines.tasks import check_marts as check

            return check(run["warehouse"], run["run_id"])

        run = open_run()
        dbt_build(run) >> check_marts(run) >> close_run(run, steps=["dbt_build", "check_marts"])

    return transform_dag()


PUB_ASSET = Asset(f"flexemp://warehouse/{Schema.PUB}")


def build_publish_dag() -> DAG:
    """The publish DAG: disclosure control of the marts and, if a figure changed, a new release in `pub`.

    Scheduled on the marts asset the transform DAG updates; its outlet is the
    `pub` asset that exports and reports can be scheduled on.
    """

    @dag(
        dag_id="publish",
        description="Suppress confidential cells, audit, and record a release in pub when a figure changed.",
        schedule=[MARTS_ASSET],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["flexemp", "publish"],
        params=run_params(),
        doc_md=build_publish_dag.__doc__,
    )
    def publish_dag() -> None:
        @task(pool=WAREHOUSE_POOL, outlets=[PUB_ASSET])
        def publish(run: dict[str, Any]) -> dict[str, Any]:
            """Primary/secondary suppression, the audit, and the release (one transaction)."""
            from pipelines.tasks import publish as publish_marts

            return publish_marts(run["warehouse"], run["run_id"])

        run = open_run()
        publish(run) >> close_run(run, steps=["publish"])

    return publish_dag()
