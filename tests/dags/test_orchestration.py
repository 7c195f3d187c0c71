"""Real in-process Airflow runs (`dag.test()`) of the ingest DAGs on tiny deliveries built in code."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import EXIT_STAGE_FAILED, EXIT_WAREHOUSE_BUSY, app
from pipelines.contract import SOURCES
from pipelines.orchestration import StageFailed, run_dag, run_pipeline
from pipelines.warehouse import WarehouseBusy
from tests.conftest import deliver, good_row

ID_COLUMN = {"job_postings": "posting_id", "gig_registrations": "registration_id", "income_records": "record_id"}


def _two_good_rows(root: Path, source: str) -> None:
    deliver(root, source, [good_row(source), good_row(source, **{ID_COLUMN[source]: "second"})])


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """Every source delivers two good rows; income also one bad row and one unknown-platform file."""
    root = tmp_path / "landing"
    for source in SOURCES:
        _two_good_rows(root, source)
    deliver(root, "income_records", [good_row("income_records", record_id="bad", gross_income="abc")], name="part-2")
    deliver(root, "income_records", [good_row("income_records")], platform="no_such_platform")
    return root


def _query(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_ingest_dag_runs_on_its_own(airflow_home: Path, landing: Path, tmp_path: Path) -> None:
    """Triggered without a run id (as a scheduler would), the DAG opens and closes its own run."""
    warehouse = tmp_path / "wh.duckdb"
    outcome = run_dag("ingest_income_records", {"landing": str(landing), "warehouse": str(warehouse)})

    assert outcome.state == "success"
    assert set(outcome.task_states.values()) == {"success"}
    loaded = outcome.returns["ingest"]
    assert (loaded["files_new"], loaded["files_loaded"], loaded["files_rejected"]) == (3, 2, 1)
    assert (loaded["rows_loaded"], loaded["rows_quarantined"]) == (2, 1)
    assert outcome.returns["check_raw"]["success"] is True
    run_id = outcome.returns["open_run"]["run_id"]
    assert _query(warehouse, "SELECT run_id, status FROM audit.runs") == [(run_id, "succeeded")]
    assert _query(warehouse, "SELECT count(*) FROM raw.income_records") == [(2,)]
    assert _query(warehouse, "SELECT count(*) FROM raw.job_postings") == [(0,)], "one source per DAG"


def test_run_pipeline_loads_every_source_under_one_run(airflow_home: Path, landing: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    seen: list[str] = []

    class Progress:
        def stage(self, name: str) -> None:
            seen.append(name)

        def files(self, source: str, done: int, total: int, rows: int) -> None:
            seen.append(f"{source} {done}/{total}")

    summary = run_pipeline(str(landing), warehouse, Progress())

    assert summary.status == "succeeded"
    assert [s.source for s in summary.sources] == list(SOURCES)
    assert [(s.files_loaded, s.rows_loaded) for s in summary.sources] == [(1, 2), (1, 2), (2, 2)]
    income = summary.sources[-1]
    assert income.rows_quarantined == 1 and len(income.rejected) == 1 and "no_such_platform" in income.rejected[0]
    assert [d.dag_id for d in summary.dag_runs][:4] == [*(f"ingest_{s}" for s in SOURCES), "transform"]
    assert all(d.state == "success" for d in summary.dag_runs)
    assert {"ingest_job_postings", "income_records 3/3", "transform"} <= set(seen)
    assert _query(warehouse, "SELECT sum(active_workers) > 0 FROM marts.flex_indicators_monthly") == [(True,)]
    # One run row for the whole pipeline, and every ledger row belongs to it.
    assert _query(warehouse, "SELECT run_id, status FROM audit.runs") == [(summary.run_id, "succeeded")]
    assert _query(warehouse, "SELECT DISTINCT run_id FROM audit.load_ledger") == [(summary.run_id,)]

    again = run_pipeline(str(landing), warehouse)
    assert [s.files_new for s in again.sources] == [0, 0, 0], "a second run finds nothing new"


def test_failed_check_stops_the_run_and_names_the_stage(airflow_home: Path, tmp_path: Path) -> None:
    """The same row delivered twice in one file breaks the raw suite's critical uniqueness check."""
    landing = tmp_path / "landing"
    deliver(landing, "job_postings", [good_row("job_postings"), good_row("job_postings")])
    warehouse = tmp_path / "wh.duckdb"

    with pytest.raises(StageFailed) as failed:
        run_pipeline(str(landing), warehouse)

    assert (failed.value.dag_id, failed.value.task_id) == ("ingest_job_postings", "check_raw")
    assert "raw_job_postings" in failed.value.message
    assert "unexpected_rows_expectation [platform_id,posting_id,updated_at,file_path]" in failed.value.message
    assert failed.value.summary is not None and failed.value.summary.sources[0].rows_loaded == 2
    assert _query(warehouse, "SELECT status FROM audit.runs") == [("failed",)]


def _hold_lock(warehouse: Path) -> subprocess.Popen:
    """Another process holding the run lock, as a concurrent `flexemp run` would."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from pipelines.warehouse import warehouse_lock\n"
         f"with warehouse_lock(Path({str(warehouse)!r})):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_busy_warehouse_stops_with_a_clear_message(airflow_home: Path, landing: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    holder = _hold_lock(warehouse)
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match="another run holds the warehouse"):
            run_pipeline(str(landing), warehouse, wait_seconds=1)
        assert time.monotonic() - started < 10
        result = CliRunner().invoke(app, ["run", "--landing", str(landing), "--warehouse", str(warehouse)])
        assert result.exit_code == EXIT_WAREHOUSE_BUSY
        assert "another run holds the warehouse" in result.output
    finally:
        holder.kill()
        holder.wait()
    assert not warehouse.exists(), "nothing was written"


def test_cli_run_prints_summary_and_exits_1_on_failure(airflow_home: Path, landing: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    ok = CliRunner().invoke(app, ["run", "--landing", str(landing), "--warehouse", str(warehouse)])
    assert ok.exit_code == 0, ok.output
    assert "succeeded" in ok.output and "no_such_platform" in ok.output

    broken = tmp_path / "broken"
    deliver(broken, "job_postings", [good_row("job_postings"), good_row("job_postings")])
    failed = CliRunner().invoke(app, ["run", "--landing", str(broken), "--warehouse", str(tmp_path / "b.duckdb")])
    assert failed.exit_code == EXIT_STAGE_FAILED
    assert "ingest_job_postings.check_raw failed" in failed.output
    assert "[platform_id," in failed.output, "check details are printed, not parsed as rich markup"
