"""Airflow for the tests in this folder: one AIRFLOW_HOME per session, in a tmp folder.

Airflow reads its configuration once per process, so every test that touches
Airflow lives here and shares this session's home; the metadata DB is migrated
once per session (pipelines.orchestration.prepare_airflow), never in the repo.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.orchestration import airflow_env


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if "airflow.configuration" in sys.modules:
        pytest.fail("Airflow was imported before tests/dags set AIRFLOW_HOME; import it inside tests only")
    work = tmp_path_factory.mktemp("flexemp-work")
    home = work / "airflow"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLEXEMP_WORK_DIR", str(work))
        for key, value in airflow_env(home).items():
            env.setenv(key, value)  # override a developer's own Airflow settings
        from pipelines.orchestration import prepare_airflow

        assert prepare_airflow() == home.resolve()
        yield home
