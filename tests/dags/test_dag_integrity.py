"""The DAG files parse, and each ingest DAG has the shape the scheduler and the CLI rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.contract import SOURCES
from pipelines.orchestration import WAREHOUSE_POOL
from pipelines.settings import DAGS_DIR, PROJECT_ROOT

# Airflow (and so pipelines.dag_factory) is imported inside the tests, after conftest set AIRFLOW_HOME.
INGEST_DAGS = {f"ingest_{source}": source for source in SOURCES}
HEAVY_MODULES = ("duckdb", "polars", "pyarrow", "great_expectations", "dbt", "pipelines.tasks")


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(INGEST_DAGS) <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", sorted(INGEST_DAGS))
def test_ingest_dag_shape(dagbag, dag_id: str) -> None:
    from pipelines.dag_factory import TASK_IDS

    dag = dagbag.dags[dag_id]
    source = INGEST_DAGS[dag_id]
    assert [t.task_id for t in dag.topological_sort()] == list(TASK_IDS)
    assert {t.pool for t in dag.tasks} == {WAREHOUSE_POOL}, "every task writes the warehouse"
    assert [a.uri for a in dag.get_task("ingest").outlets] == [f"flexemp://warehouse/raw/{source}"]
    assert dag.get_task("close_run").trigger_rule == "all_done"
    assert dag.catchup is False
    assert set(dag.params) == {"landing", "warehouse", "run_id"}
    assert dag.params["run_id"] is None
    assert Path(dag.fileloc).parent == DAGS_DIR
    assert dag.doc_md


def test_dag_files_are_cheap_to_parse(dagbag) -> None:
    """The dag processor re-parses these files often: no warehouse or GX imports at the top."""
    for stat in dagbag.dagbag_stats:
        assert stat.duration.total_seconds() < 2.0, stat
    probe = (
        "import json, runpy, sys, pathlib\n"
        f"for f in sorted(pathlib.Path({str(DAGS_DIR)!r}).glob('*.py')): runpy.run_path(str(f))\n"
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True,
        check=True, timeout=120,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_warehouse_pool_has_one_slot(airflow_home: Path) -> None:
    from airflow.models.pool import Pool

    pool = Pool.get_pool(WAREHOUSE_POOL)
    assert pool is not None and pool.slots == 1
