"""`flexemp query "SQL" --warehouse FILE`: one read-only query on the analyst database.

The lead registers `query` on the `flexemp` app. Exit codes: 0 answered, 1 the
query failed (unknown table, syntax error) or there is no analyst database yet,
2 refused (not a single read statement, or it tried to reach files, ATTACH or a
setting). Results go to stdout; notices (truncation, errors) to stderr, so CSV
and JSON output can be piped as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

EXIT_QUERY_FAILED = 1
EXIT_REFUSED = 2


class OutputFormat(StrEnum):
    """How `flexemp query` prints its result."""

    table = "table"
    csv = "csv"
    json = "json"


def query(
    sql: Annotated[str, typer.Argument(help="one read query (SELECT / WITH / FROM / DESCRIBE / SHOW)")],
    warehouse: Annotated[Path, typer.Option(help="the warehouse file; its analyst database is queried")],
    format: Annotated[OutputFormat, typer.Option(help="table, csv or json")] = OutputFormat.table,
    limit: Annotated[int, typer.Option(min=1, help="print at most this many rows")] = 1000,
) -> None:
    """Query the analyst database (marts, pub, ref of the last completed run), read-only."""
    import duckdb

    from pipelines.query.readonly import AnalystDbMissing, QueryRefused, run_query

    err = Console(stderr=True)
    try:
        columns, rows = run_query(warehouse, sql, limit=limit + 1)
    except QueryRefused as exc:
        err.print(f"[red]refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None
    except AnalystDbMissing as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(EXIT_QUERY_FAILED) from None
    except duckdb.Error as exc:
        err.print(f"[red]query failed:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_QUERY_FAILED) from None

    truncated = len(rows) > limit
    rows = rows[:limit]
    if format is OutputFormat.csv:
        _print_csv(columns, rows)
    elif format is OutputFormat.json:
        _print_json(columns, rows)
    else:
        _print_table(columns, rows, truncated)
    if truncated:
        err.print(f"[yellow]showing the first {limit} rows; raise --limit or aggregate further for more[/yellow]")


def _print_table(columns: list[str], rows: list[tuple[Any, ...]], truncated: bool) -> None:
    table = Table(*columns, caption=f"{len(rows)}{'+' if truncated else ''} rows", show_lines=False)
    for row in rows:
        table.add_row(*("" if v is None else escape(str(v)) for v in row))
    Console().print(table)


def _print_csv(columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)


def _json_value(value: Any) -> Any:
    """Numbers stay numbers (DECIMAL money as JSON numbers), dates and times ISO 8601."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return str(value)


def _print_json(columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    sys.stdout.write(json.dumps(records, ensure_ascii=False, default=_json_value, indent=1) + "\n")
