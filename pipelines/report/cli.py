"""`flexemp report`: render one province's monthly report (HTML + PDF) from the published tables.

The lead registers `report` on the `flexemp` app. Heavy modules (DuckDB,
matplotlib, weasyprint) load inside the command, so `flexemp --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

EXIT_NO_REPORT = 2

console = Console()


def report(
    period: Annotated[str, typer.Option(help="month to report, YYYY-MM")],
    region: Annotated[str, typer.Option(help="province code (GB/T 2260, e.g. 420000)")],
    out: Annotated[Path, typer.Option(help="folder to write <province>/<period>/report.{html,pdf} into")],
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file holding the published (pub) tables")],
) -> None:
    """Render a province's monthly report for human-resources bureaus (published figures only)."""
    from pipelines.report.charts import MissingCJKFont
    from pipelines.report.data import ReportDataError
    from pipelines.report.render import render_report

    try:
        result = render_report(warehouse, period, region, out)
    except (ReportDataError, MissingCJKFont) as exc:
        console.print(f"[red]no report:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_NO_REPORT) from None
    status = {"P": "provisional", "F": "final"}.get(result.status or "", "?")
    console.print(
        f"[green]report[/green] {escape(result.province_name)} ({result.province_code}) {result.period}, "
        f"{status}, release {escape(str(result.release_id))}"
    )
    console.print(f"  {escape(str(result.pdf))}\n  {escape(str(result.html))}")
