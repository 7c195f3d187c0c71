"""`flexemp export`: the command economists use to take a published table away.

The lead registers `export` on the main app (pipelines/cli.py), e.g.
`app.command()(export)`. Refused tables and bad filters exit with 2 (a usage
error, nothing was written); an unavailable warehouse exits with 3, as a busy
warehouse does for `flexemp run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

EXIT_REFUSED = 2
EXIT_WAREHOUSE_UNAVAILABLE = 3

console = Console()
errors = Console(stderr=True)


def export(
    table: Annotated[
        str, typer.Argument(help="published table: flex_indicators_monthly, labor_demand_monthly, dim_*, *_history")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="output file (or folder: <table>.<format> inside it)")],
    warehouse: Annotated[Path, typer.Option(help="DuckDB warehouse file (opened read-only)")],
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="csv, parquet, xlsx, dta or tex (default: from the --out suffix)"),
    ] = None,
    period: Annotated[list[str] | None, typer.Option(help="month YYYY-MM; repeat for several")] = None,
    region_level: Annotated[
        list[str] | None, typer.Option(help="country, macro_region, province or prefecture")
    ] = None,
    region: Annotated[list[str] | None, typer.Option(help="region code: CN, east, 420000, 420100, ...")] = None,
    gender: Annotated[list[str] | None, typer.Option(help="F, M, U or ALL")] = None,
    age_cohort: Annotated[list[str] | None, typer.Option(help="16-24, 25-34, ..., 65+ or ALL")] = None,
    occupation: Annotated[list[str] | None, typer.Option(help="occupation code or ALL")] = None,
    status: Annotated[list[str] | None, typer.Option(help="P provisional or F final")] = None,
    conf_status: Annotated[list[str] | None, typer.Option(help="F free, C or D confidential")] = None,
    release: Annotated[list[str] | None, typer.Option(help="release id (for the *_history tables)")] = None,
    column: Annotated[
        list[str] | None, typer.Option("--column", help="export only these columns, in this order; repeatable")
    ] = None,
) -> None:
    """Export a published (pub) table with its codebook: definitions, vintage, release, legend."""
    from pipelines.export.export import ExportError, TableRefused, WarehouseUnavailable, export_table

    filters = {
        "period": period,
        "region_level": region_level,
        "region": region,
        "gender": gender,
        "age_cohort": age_cohort,
        "occupation": occupation,
        "status": status,
        "conf_status": conf_status,
        "release": release,
    }
    try:
        result = export_table(
            warehouse, table, format, out, {k: v for k, v in filters.items() if v}, columns=column or None
        )
    except TableRefused as error:
        errors.print(f"[red]Refused:[/] {escape(str(error))}")
        raise typer.Exit(EXIT_REFUSED) from None
    except ExportError as error:
        errors.print(f"[red]Cannot export:[/] {escape(str(error))}")
        raise typer.Exit(EXIT_REFUSED) from None
    except WarehouseUnavailable as error:
        errors.print(f"[red]Warehouse unavailable:[/] {escape(str(error))}")
        raise typer.Exit(EXIT_WAREHOUSE_UNAVAILABLE) from None
    except ValueError as error:  # e.g. too many rows for one Excel sheet
        errors.print(f"[red]Cannot export:[/] {escape(str(error))}")
        raise typer.Exit(EXIT_REFUSED) from None
    book = result.codebook
    release_text = ", ".join(r.release_id or "?" for r in book.releases) or "no release recorded"
    console.print(f"Wrote {result.rows} rows of {book.qualified_name} ({release_text}) to {escape(str(result.out))}")
    if result.sidecar:
        console.print(f"Codebook: {escape(str(result.sidecar))}")
