"""A generated landing tree and a warehouse built from it, shared by the mart tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import tasks
from pipelines.contract import SOURCES
from pipelines.generate import generate_landing


def build(landing: Path, warehouse: Path, full_refresh: bool = False) -> None:
    """Ingest everything new and build the dbt project, as `flexemp run` does minus Airflow."""
    run_id = tasks.prepare_run(str(landing), str(warehouse))
    for source in SOURCES:
        tasks.ingest(source, str(landing), str(warehouse), run_id)
    tasks.transform(str(warehouse), run_id, full_refresh=full_refresh)
    tasks.finish_run(str(warehouse), run_id, "succeeded")


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("marts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLEXEMP_WORK_DIR", str(folder / "work"))
        yield folder


@pytest.fixture(scope="session")
def generated(work: Path) -> Path:
    """Seven months (volatility needs six, retention three more than a new month)."""
    landing = work / "landing"
    generate_landing(landing, workers=1200, months=7, seed=7)
    return landing


@pytest.fixture(scope="session")
def built(work: Path, generated: Path) -> Path:
    warehouse = work / "built.duckdb"
    build(generated, warehouse)
    return warehouse
