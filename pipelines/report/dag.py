"""Build the monthly reports DAG: on the 5th of each month, every province's report for the previous month.

    choose_period -> render_reports

The 5th at 06:00 Shanghai time leaves the first days of the month for the last
deliveries and the run that publishes them. The month reported is the newest one
with published figures, not after the month before the run (so a late
publication still gets its reports on the next run, and a rerun of an old DAG
run reproduces that month); a `period` param overrides it.

Reports only read `pub`, so the tasks are not in the writers' pool
(`flexemp_warehouse`). DuckDB refuses a read-only open while a run is writing
the file, so the render task retries later instead of waiting for a slot.

Only Airflow's authoring API is imported at the top: the report modules
(DuckDB, matplotlib, weasyprint) load inside the tasks, so parsing stays cheap.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, CronTriggerTimetable, Param, dag, task

from pipelines.dag_factory import START_DATE, default_warehouse
from pipelines.settings import work_dir

DAG_ID = "monthly_reports"
SCHEDULE = "0 6 5 * *"  # 06:00 on the 5th of every month
TIMEZONE = "Asia/Shanghai"


def default_outbox() -> str:
    """Where the bureaus' reports land: FLEXEMP_OUTBOX or <work_dir>/outbox."""
    return os.environ.get("FLEXEMP_OUTBOX", str(work_dir() / "outbox"))


def previous_month(moment: datetime) -> str:
    """The calendar month (YYYY-MM, Shanghai) before the one `moment` (timezone-aware) falls in."""
    local = moment.astimezone(ZoneInfo(TIMEZONE))
    index = local.year * 12 + local.month - 2
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def build_reports_dag() -> DAG:
    """The `monthly_reports` DAG."""

    @dag(
        dag_id=DAG_ID,
        description="Render each province's monthly report (HTML + PDF) from pub into the outbox.",
        schedule=CronTriggerTimetable(SCHEDULE, timezone=TIMEZONE),  # in Shanghai time, not UTC
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["flexemp", "report"],
        params={
            "warehouse": Param(default_warehouse(), type="string", description="DuckDB warehouse file (read only)"),
            "outbox": Param(default_outbox(), type="string", description="reports go to <outbox>/<province>/<period>/"),
            "period": Param(
                None, type=["null", "string"], description="YYYY-MM; empty: newest published month up to last month"
            ),
        },
        doc_md=__doc__,
    )
    def reports_dag() -> None:
        @task(retries=3, retry_delay=timedelta(minutes=15))
        def choose_period(params: dict[str, Any] | None = None, logical_date: Any = None) -> str:
            """The month to report: the param, else the newest published one not after last month."""
            from pathlib import Path

            from pipelines.report.data import latest_published_period

            assert params is not None
            if params["period"]:
                return str(params["period"])
            bound = previous_month(logical_date or datetime.now(ZoneInfo(TIMEZONE)))
            period = latest_published_period(Path(params["warehouse"]), not_after=bound)
            if period is None:
                from airflow.sdk.exceptions import AirflowSkipException

                raise AirflowSkipException(f"nothing published up to {bound}")
            return period

        @task(retries=3, retry_delay=timedelta(minutes=15))
        def render_reports(period: str, params: dict[str, Any] | None = None) -> list[dict[str, str]]:
            """One report per province with published figures in `period`."""
            from pathlib import Path

            from pipelines.report.render import render_all

            assert params is not None
            results = render_all(Path(params["warehouse"]), period, Path(params["outbox"]))
            return [{"province": r.province_code, "period": r.period, "pdf": str(r.pdf)} for r in results]

        render_reports(choose_period())

    return reports_dag()
