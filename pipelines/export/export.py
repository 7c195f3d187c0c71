"""`export_table`: one published table, filtered, to a file that carries its own definitions.

Only `pub` leaves the warehouse (indicators.md, "Publication rules"), so the
table name is checked against a fixed list of published tables before any SQL
is built, the warehouse is opened read-only, and filter values only ever reach
DuckDB as parameters. Everything format-specific lives in writers.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.contract import Schema
from pipelines.export import writers
from pipelines.export.codebook import HISTORY_SUFFIX, Codebook, build_codebook, load_model_docs, model_of
from pipelines.warehouse import connect

INDICATOR_TABLES = ("flex_indicators_monthly", "labor_demand_monthly")
DIMENSION_TABLES = ("dim_region", "dim_occupation", "dim_platform", "dim_period")
PUBLISHED_TABLES = (
    *INDICATOR_TABLES,
    *DIMENSION_TABLES,
    *(f"{t}{HISTORY_SUFFIX}" for t in INDICATOR_TABLES),
)
"""The pub tables an export may read (architecture.md, 'Publication interface')."""

FILTER_COLUMNS: dict[str, str] = {
    "period": "period",
    "region_level": "region_level",
    "region": "region_code",
    "region_code": "region_code",
    "gender": "gender",
    "age_cohort": "age_cohort",
    "occupation": "occupation_code",
    "occupation_code": "occupation_code",
    "status": "status",
    "conf_status": "conf_status",
    "release": "release_id",
    "release_id": "release_id",
}
"""Filter name (CLI option or column) -> the column it restricts. Nothing else is ever filtered on."""

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_BARE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ExportError(ValueError):
    """The request cannot be served as asked (bad table, filter or format): the user's to fix."""


class TableRefused(ExportError):
    """The table is not a published table: exports never read marts, raw or anything else."""


class WarehouseUnavailable(RuntimeError):
    """The warehouse file is missing or held by a writing run."""


@dataclass(frozen=True)
class ExportResult:
    table: str
    fmt: str
    out: Path
    sidecar: Path | None
    rows: int
    codebook: Codebook


def check_table(table: str) -> str:
    """The published table name, or TableRefused saying why (before any SQL sees the name)."""
    name = table.strip()
    if "." in name and _BARE_NAME.match(name.replace(".", "_")):
        schema = name.split(".", 1)[0]
        if schema == Schema.PUB:
            hint = f"give the bare name {name.split('.', 1)[1]!r} (exports always read pub)"
        else:
            hint = f"{schema!r} is not published; only pub tables leave the warehouse"
        raise TableRefused(f"refused {table!r}: {hint}. Published tables: {', '.join(PUBLISHED_TABLES)}")
    if not _BARE_NAME.match(name):
        raise TableRefused(f"refused {table!r}: not a table name (give one of: {', '.join(PUBLISHED_TABLES)})")
    if name not in PUBLISHED_TABLES:
        raise TableRefused(
            f"refused {table!r}: not a published table. Only pub tables leave the warehouse: "
            f"{', '.join(PUBLISHED_TABLES)}"
        )
    return name


def check_format(fmt: str | None, out: Path) -> str:
    """The format asked for, or the one the output's suffix names."""
    chosen = (fmt or out.suffix.lstrip(".")).lower()
    if chosen not in writers.EXTENSIONS:
        raise ExportError(f"unknown format {fmt or out.suffix!r}: choose one of {', '.join(writers.EXTENSIONS)}")
    return chosen


def output_path(out: Path, table: str, fmt: str) -> Path:
    """A folder gets <table>.<ext> inside it; a name without a suffix gets the format's."""
    if out.is_dir():
        return out / f"{table}{writers.EXTENSIONS[fmt]}"
    if not out.suffix:
        return out.with_suffix(writers.EXTENSIONS[fmt])
    return out


def _quote(column: str) -> str:
    """A column name as an SQL identifier; names come from the warehouse's own catalogue."""
    return '"' + column.replace('"', '""') + '"'


def _where(filters: dict[str, list[str]], columns: dict[str, str], table: str) -> tuple[str, list[str], dict]:
    """Parameterised WHERE over the known filter columns; a filter the table cannot honour is an error.

    Ignoring `--gender F` on a table without gender would silently export every
    row, so it is refused instead.
    """
    clauses: list[str] = []
    params: list[str] = []
    applied: dict[str, list[str]] = {}
    for name, values in filters.items():
        if not values:
            continue
        column = FILTER_COLUMNS.get(name)
        if column is None:
            raise ExportError(f"unknown filter {name!r}: use one of {', '.join(sorted(FILTER_COLUMNS))}")
        if column not in columns:
            raise ExportError(f"pub.{table} has no column {column!r} to filter on ({name})")
        if column == "period":
            bad = [v for v in values if not _PERIOD.match(v)]
            if bad:
                raise ExportError(f"period must be YYYY-MM, got {', '.join(bad)}")
        clauses.append(f"CAST({_quote(column)} AS VARCHAR) IN ({', '.join('?' for _ in values)})")
        params.extend(values)
        applied.setdefault(column, []).extend(values)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return where, params, applied


def _order_by(table: str, columns: dict[str, str]) -> str:
    """Sort by the grain the dbt tests declare (release first for a history), so exports are stable."""
    doc = load_model_docs().get(model_of(table))
    keys = [k for k in (doc.keys if doc else ()) if k in columns]
    if table.endswith(HISTORY_SUFFIX) and "release_id" in columns:
        keys = ["release_id", *keys]
    return f"ORDER BY {', '.join(_quote(k) for k in keys)}" if keys else ""


def open_warehouse(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """Read-only, so an export never changes the warehouse and fails at once while a run writes it."""
    if not warehouse.is_file():
        raise WarehouseUnavailable(f"no warehouse at {warehouse}")
    try:
        return connect(warehouse, read_only=True)
    except duckdb.IOException as error:
        raise WarehouseUnavailable(
            f"cannot open {warehouse} read-only ({error}); a run may be writing it - try again when it has finished"
        ) from None


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [str(Schema.PUB), table],
    ).fetchall()
    return dict(rows)


def export_table(
    warehouse: Path,
    table: str,
    fmt: str | None,
    out: Path,
    filters: dict[str, list[str]] | None = None,
    columns: list[str] | None = None,
) -> ExportResult:
    """Write pub.<table> (filtered) as `fmt` to `out`, with its codebook embedded or beside it."""
    table = check_table(table)
    fmt = check_format(fmt, out)
    out = output_path(out, table, fmt)
    con = open_warehouse(warehouse)
    try:
        available = _table_columns(con, table)
        if not available:
            raise ExportError(f"pub.{table} does not exist in {warehouse} yet: publish first (flexemp run)")
        if columns:
            unknown = [c for c in columns if c not in available]
            if unknown:
                raise ExportError(f"pub.{table} has no column(s) {', '.join(unknown)}")
        selected = list(columns or available)
        where, params, applied = _where(filters or {}, available, table)
        codebook = build_codebook(con, table, selected, where, params, applied)
        select = ", ".join(_quote(c) for c in selected)
        query = writers.Query(
            sql=f"SELECT {select} FROM {Schema.PUB}.{table} {where} {_order_by(table, available)}".strip(),
            params=params,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        sidecar = writers.write(fmt, con, query, out, codebook)
    finally:
        con.close()
    return ExportResult(table=table, fmt=fmt, out=out, sidecar=sidecar, rows=codebook.row_count or 0, codebook=codebook)
