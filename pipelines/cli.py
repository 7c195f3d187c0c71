"""The `flexemp` command: generate sample deliveries, run the pipeline, or both (`demo`).

Heavy modules (Airflow, DuckDB, Polars) are imported inside the commands, so
`flexemp --help` answers at once and Airflow is configured before it is imported.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.settings import RunPaths, work_dir

if TYPE_CHECKING:
    from pipelines.orchestration import RunSummary

app = typer.Typer(
    help="flexemp: labour-market analytics for platform (flexible) employment in China.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def _main() -> None:
    atexit.register(_silence_exit_leak_report)


def _silence_exit_leak_report() -> None:
    """Close stderr once the command is done (after any traceback has been printed).

    DuckDB 2.0's nanobind bindings print a long "leaked instances" report while the
    interpreter shuts down when Great Expectations and duckdb-engine were imported;
    it is harmless (shared/notes/gx-duckdb.md) and would bury the run's summary.
    """
    sys.stderr.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)

EXIT_STAGE_FAILED = 1
EXIT_WAREHOUSE_BUSY = 3

Workers = Annotated[int, typer.Option(help="distinct persons in the synthetic population")]
Months = Annotated[int, typer.Option(help="calendar months of deliveries")]


def _progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


class _RunProgress:
    """Draws `run_pipeline`'s stages as spinners and ingestion as files done / total and rows/s."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.current: int | None = None
        self.first: tuple[float, int] | None = None  # (time, rows) of the stage's first progress report

    def stage(self, name: str) -> None:
        self._finish_current()
        self.current = self.bar.add_task(name, total=None, detail="")
        self.first = None

    def files(self, source: str, done: int, total: int, rows: int) -> None:
        if self.current is None:
            self.stage(f"ingest_{source}")
        assert self.current is not None
        now = time.perf_counter()
        if self.first is None:
            self.first = (now, rows)
        seconds = now - self.first[0]
        rate = f"  {(rows - self.first[1]) / seconds:,.0f} rows/s" if seconds > 0.5 else ""
        self.bar.update(self.current, total=total, completed=done, detail=f"{rows:,} rows{rate}")

    def finish(self) -> None:
        """Mark the last stage done (stages are otherwise closed when the next one starts)."""
        self._finish_current()

    def _finish_current(self) -> None:
        if self.current is not None:
            task = self.bar.tasks[self.current]
            total = task.total if task.total is not None else 1
            self.bar.update(self.current, total=total, completed=total)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="folder to write the landing tree into")],
    workers: Workers = 2000,
    months: Months = 3,
    seed: Annotated[int, typer.Option(help="same seed, same bytes")] = 42,
) -> None:
    """Write a synthetic landing tree (with known faults, listed in its _manifest.json)."""
    _generate(out, workers, months, seed)


def _generate(out: Path, workers: int, months: int, seed: int) -> None:
    from pipelines.generate import generate_landing

    with _progress_bar() as bar:
        task = bar.add_task(f"generating {out}", total=None, detail="")

        def progress(done: int, total: int) -> None:
            bar.update(task, total=total, completed=done, detail="files")

        summary = generate_landing(out, workers, months, seed, progress=progress)
    table = Table(title=f"Wrote {out} in {summary.seconds:.1f}s")
    for column in ("source", "files", "rows", "bad rows injected", "file faults injected"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, files in summary.files.items():
        table.add_row(
            source,
            f"{files:,}",
            f"{summary.rows[source]:,}",
            f"{sum(summary.bad_rows.get(source, {}).values()):,}",
            f"{len(summary.file_faults.get(source, {})):,}",
        )
    console.print(table)
    console.print(f"Manifest (what was injected): {summary.manifest}")


@app.command()
def run(
    landing: Annotated[str, typer.Option(help="landing root: a folder or an s3:// URL")],
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file (created if missing)")],
    wait: Annotated[float, typer.Option(help="seconds to wait when another run holds the warehouse")] = 0.0,
    verbose: Annotated[bool, typer.Option(help="show Airflow's task logs")] = False,
    full_refresh: Annotated[bool, typer.Option(help="rebuild incremental dbt models from scratch")] = False,
) -> None:
    """Run the pipeline in-process under one run lock: ingest DAGs, then transform (dbt + checks)."""
    _run(landing, warehouse, wait, verbose, full_refresh)


def _run(landing: str, warehouse: Path, wait: float, verbose: bool, full_refresh: bool = False) -> None:
    if not verbose:
        # Failures are reported below with their cause; Airflow's tracebacks would repeat them.
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
    from pipelines.orchestration import StageFailed, run_pipeline
    from pipelines.warehouse import WarehouseBusy

    summary: RunSummary | None = None
    try:
        with _progress_bar() as bar:
            progress = _RunProgress(bar)
            summary = run_pipeline(landing, warehouse, progress, wait_seconds=wait, full_refresh=full_refresh)
            progress.finish()
    except WarehouseBusy as busy:
        console.print(f"[bold red]Warehouse busy:[/] {escape(str(busy))}")
        raise typer.Exit(EXIT_WAREHOUSE_BUSY) from None
    except StageFailed as failure:
        if failure.summary is not None:
            _print_summary(failure.summary)
        console.print(f"[bold red]Stage failed:[/] {escape(str(failure))}")
        raise typer.Exit(EXIT_STAGE_FAILED) from None
    _print_summary(summary)
    _print_headlines(summary.warehouse)


def _print_headlines(warehouse: Path) -> None:
    from pipelines.headlines import headlines

    workers, demand = headlines(warehouse)
    if not workers:
        console.print("No active workers in the marts yet.")
        return
    table = Table(title=f"Headline figures, China, {workers[0].period}")
    for column in ("group", "active workers", "new workers", "median net income (CNY)"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for h in workers:
        income = "-" if h.median_net_income is None else f"{h.median_net_income:,.2f}"
        table.add_row(h.label, f"{h.active_workers or 0:,}", f"{h.new_workers or 0:,}", income)
    console.print(table)
    if demand:
        capped = demand["age_capped_share"]
        console.print(
            f"Labour demand {demand['period']}: {demand['open_postings']:,} open postings, "
            f"{demand['new_postings']:,} new"
            + ("" if capped is None else f", {capped:.1%} of new postings capped at age 35"),
            highlight=False,
        )


def _print_summary(summary: RunSummary) -> None:
    table = Table(title=f"Run {summary.run_id}: {summary.status} in {summary.seconds:.1f}s")
    columns = ("source", "files new", "loaded", "rejected", "dup", "rows loaded", "quarantined", "failed checks")
    for column in columns:
        table.add_column(column, justify="left" if column in ("source", "failed checks") else "right")
    for s in summary.sources:
        table.add_row(
            s.source,
            f"{s.files_new:,}",
            f"{s.files_loaded:,}",
            f"{s.files_rejected:,}",
            f"{s.files_duplicate:,}",
            f"{s.rows_loaded:,}",
            f"{s.rows_quarantined:,}",
            escape(", ".join(s.failed_checks)) or "-",
        )
    console.print(table)
    rejected = [r for s in summary.sources for r in s.rejected]
    if rejected:
        console.print("[bold]Rejected files[/]")
        for line in rejected:
            console.print(f"  {escape(line)}", highlight=False)
    paths = RunPaths(summary.landing, summary.warehouse)
    console.print(f"Warehouse: {escape(str(paths.warehouse))}   check results: {escape(str(paths.artifacts))}")
    if summary.dag_runs:
        overhead = ", ".join(f"{d.dag_id} {d.airflow_seconds:.1f}s" for d in summary.dag_runs)
        console.print(f"Airflow's own time per DAG run: {overhead}", style="dim", highlight=False)


@app.command()
def demo(workers: Workers = 2000, months: Months = 3) -> None:
    """Generate sample deliveries (once) into the work folder, then run the pipeline on them."""
    from pipelines.generate import MANIFEST_NAME

    root = work_dir() / "demo"
    landing = root / "landing"
    if (landing / MANIFEST_NAME).exists():
        console.print(f"Using the sample deliveries already in {landing} (delete the folder to regenerate).")
    else:
        _generate(landing, workers, months, seed=42)
    _run(str(landing), root / "flexemp.duckdb", wait=0.0, verbose=False)


def _register_publication_commands() -> None:
    """Commands that live beside their modules; registered here so `flexemp --help` lists them."""
    from pipelines.export.cli import export
    from pipelines.query.cli import query
    from pipelines.report.cli import report

    app.command()(export)
    app.command()(report)
    app.command()(query)


_register_publication_commands()


if __name__ == "__main__":
    app()
