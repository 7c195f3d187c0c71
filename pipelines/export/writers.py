"""One writer per export format; each makes the file carry its definitions.

CSV and Parquet stream from DuckDB (record batches / COPY) so a large table
never sits in pandas; Excel streams rows too. Stata and LaTeX need the whole
frame anyway (to_stata, a tabular) and are meant for the filtered extracts
economists put in papers. Every writer writes to a temporary file beside the
target and renames it at the end, so a failed export leaves no half file.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.export.codebook import Codebook, legend_lines, load_publication_docs, release_summary, render_markdown

EXTENSIONS: dict[str, str] = {"csv": ".csv", "parquet": ".parquet", "xlsx": ".xlsx", "dta": ".dta", "tex": ".tex"}

BATCH_ROWS = 100_000
EXCEL_MAX_ROWS = 1_048_576
STATA_LABEL_CHARS = 80  # Stata's limit for variable and data labels
BOM = "\ufeff".encode()
NOT_AVAILABLE = "--"  # a null measure on a free row, in the LaTeX table


@dataclass(frozen=True)
class Query:
    """The export's SELECT and its parameters (filter values never enter the SQL text)."""

    sql: str
    params: list[str] = field(default_factory=list)


def sidecar_path(out: Path) -> Path:
    """flex.csv -> flex.codebook.md, next to the data."""
    return out.with_name(f"{out.stem}.codebook.md")


@contextmanager
def _atomic(out: Path) -> Iterator[Path]:
    """A temporary path beside `out`, renamed onto it only when the writer finished."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _write_sidecar(out: Path, codebook: Codebook) -> Path:
    path = sidecar_path(out)
    with _atomic(path) as tmp:
        tmp.write_text(render_markdown(codebook), encoding="utf-8")
    return path


def _batches(con: duckdb.DuckDBPyConnection, query: Query) -> pa.RecordBatchReader:
    """Rows in Arrow batches straight from DuckDB's streaming result (no copy of the whole result)."""
    return con.sql(query.sql, params=query.params).to_arrow_reader(BATCH_ROWS)


def _plain_arrow_type(type_: pa.DataType) -> pa.DataType:
    """Views and large strings as plain strings: the CSV writer and every reader handle those."""
    if pa.types.is_string_view(type_) or pa.types.is_large_string(type_):
        return pa.string()
    return type_


def write_csv(con: duckdb.DuckDBPyConnection, query: Query, out: Path, codebook: Codebook) -> Path:
    """UTF-8 with a byte-order mark, so Excel opens Chinese region names correctly; codebook beside it."""
    reader = _batches(con, query)
    schema = pa.schema([f.with_type(_plain_arrow_type(f.type)) for f in reader.schema])
    with _atomic(out) as tmp, tmp.open("wb") as sink:
        sink.write(BOM)
        with pacsv.CSVWriter(sink, schema) as writer:
            for batch in reader:
                writer.write_batch(batch.cast(schema) if batch.schema != schema else batch)
    return _write_sidecar(out, codebook)


def parquet_metadata(codebook: Codebook) -> dict[str, str]:
    """Key-value metadata in the Parquet footer: the file explains itself without the sidecar."""
    release = codebook.release
    return {
        "flexemp.table": codebook.qualified_name,
        "flexemp.codebook": codebook.to_json(),
        "flexemp.release": release_summary(codebook),
        "flexemp.release_id": (release.release_id or "") if release else "",
        "flexemp.vintage": (release.vintage or "") if release else "",
        "flexemp.pipeline_version": (release.pipeline_version or "") if release else "",
        "flexemp.legend": "\n".join(legend_lines(codebook)),
    }


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def write_parquet(con: duckdb.DuckDBPyConnection, query: Query, out: Path, codebook: Codebook) -> Path:
    """DuckDB's COPY streams the rows; the codebook goes into the footer's key-value metadata."""
    metadata = parquet_metadata(codebook)
    keys = list(metadata)
    kv = ", ".join(f'"{key}": ?' for key in keys)
    with _atomic(out) as tmp:
        con.execute(
            f"COPY ({query.sql}) TO {_sql_string(str(tmp))} (FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{kv}}})",
            [*query.params, *(metadata[k] for k in keys)],
        )
    return _write_sidecar(out, codebook)


def _display_width(text: str) -> int:
    """Columns a string takes on screen: CJK characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _excel_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def write_xlsx(con: duckdb.DuckDBPyConnection, query: Query, out: Path, codebook: Codebook) -> None:
    """A `data` sheet (frozen header, fitted widths) and a `metadata` sheet with the codebook."""
    import xlsxwriter

    if (codebook.row_count or 0) >= EXCEL_MAX_ROWS:
        raise ValueError(
            f"{codebook.row_count} rows do not fit in one Excel sheet ({EXCEL_MAX_ROWS - 1} at most): "
            "filter the export or choose csv/parquet"
        )
    with _atomic(out) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
        try:
            _xlsx_data_sheet(book, con, query, codebook)
            _xlsx_metadata_sheet(book, codebook)
        finally:
            book.close()


def _xlsx_data_sheet(book: Any, con: duckdb.DuckDBPyConnection, query: Query, codebook: Codebook) -> None:
    sheet = book.add_worksheet("data")
    header = book.add_format({"bold": True, "bottom": 1})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    names = [c.name for c in codebook.columns]
    widths = [_display_width(n) for n in names]
    reader = _batches(con, query)
    first = True
    row = 0
    for batch in reader:
        records = batch.to_pylist()
        if first:
            # Widths from the first batch: enough to read, without a second pass over the data.
            for record in records[:2000]:
                for i, name in enumerate(names):
                    value = record[name]
                    if value is not None:
                        widths[i] = max(widths[i], _display_width(str(value)))
            for i, width in enumerate(widths):
                sheet.set_column(i, i, min(width + 2, 60))
            sheet.freeze_panes(1, 0)
            sheet.write_row(0, 0, names, header)
            row = 1
            first = False
        for record in records:
            for i, name in enumerate(names):
                value = record[name]
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    sheet.write_datetime(row, i, value, date_format)
                else:
                    sheet.write(row, i, _excel_value(value))
            row += 1
    if first:  # no rows: still a header
        sheet.freeze_panes(1, 0)
        sheet.write_row(0, 0, names, header)
    sheet.autofilter(0, 0, max(row - 1, 0), len(names) - 1)


def _xlsx_metadata_sheet(book: Any, codebook: Codebook) -> None:
    sheet = book.add_worksheet("metadata")
    bold = book.add_format({"bold": True})
    title = book.add_format({"bold": True, "font_size": 14})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    top = book.add_format({"valign": "top"})
    sheet.set_column(0, 0, 26)
    sheet.set_column(1, 1, 100)
    sheet.set_column(2, 2, 18)
    release = codebook.release
    rows: list[tuple[str, str]] = [
        ("Table", codebook.qualified_name),
        ("Description", codebook.description),
        ("Publication", codebook.publication_note),
        ("Release", ", ".join(r.release_id or "unknown" for r in codebook.releases) or "no release recorded"),
        ("Vintage", ", ".join(sorted({r.vintage for r in codebook.releases if r.vintage})) or "unknown"),
        (
            "Pipeline version",
            ", ".join(sorted({r.pipeline_version for r in codebook.releases if r.pipeline_version})) or "unknown",
        ),
    ]
    if release and release.released_at:
        rows.append(("Released at", release.released_at))
    rows.append(("Rows", str(codebook.row_count)))
    if codebook.filters:
        rows.append(("Filters", "; ".join(f"{k} in ({', '.join(v)})" for k, v in codebook.filters.items())))
    sheet.write(0, 0, f"{codebook.qualified_name}: flexemp published table", title)
    line = 2
    for label, value in rows:
        sheet.write(line, 0, label, bold)
        sheet.write(line, 1, value, wrap)
        line += 1
    if codebook.legend:
        line += 1
        sheet.write_row(line, 0, ["Legend", "meaning", "code"], bold)
        line += 1
        for column, codes in codebook.legend.items():
            for code in codes:
                sheet.write(line, 0, f"{column} = {code.code}", top)
                sheet.write(line, 1, f"{code.label}. {code.description}", wrap)
                sheet.write(line, 2, code.code, top)
                line += 1
    line += 1
    sheet.write_row(line, 0, ["column", "definition", "type"], bold)
    for column in codebook.columns:
        line += 1
        sheet.write(line, 0, column.name, top)
        sheet.write(line, 1, column.description, wrap)
        sheet.write(line, 2, column.type, top)


def stata_label(text: str, limit: int = STATA_LABEL_CHARS) -> str:
    """A definition cut to Stata's label length: its first sentence, shortened at a word if need be.

    The full text is in the sidecar codebook; the label is what `describe` shows.
    """
    text = " ".join(text.split())
    sentence = text.split(". ")[0].rstrip(".")
    if len(sentence) <= limit:
        return sentence
    cut = sentence[: limit - 3].rsplit(" ", 1)[0]
    return cut.rstrip(",;:(- ") + "..."


def _stata_frame(frame: pd.DataFrame, codebook: Codebook) -> tuple[pd.DataFrame, dict, dict]:
    """Stata has no nullable ints, booleans or string NA: convert, and code the status letters."""
    convert_dates: dict[str, str] = {}
    value_labels: dict[str, dict[int, str]] = {}
    for name in frame.columns:
        column = frame[name]
        if name in codebook.legend:
            codes = codebook.legend[name]
            numbers = {code.code: i + 1 for i, code in enumerate(codes)}
            frame[name] = column.map(numbers).astype("float64" if column.isna().any() else "int8")
            value_labels[name] = {i + 1: f"{code.code} {code.label}" for i, code in enumerate(codes)}
        elif pd.api.types.is_datetime64_any_dtype(column):
            convert_dates[name] = "td" if (column.dropna().dt.normalize() == column.dropna()).all() else "tc"
        elif pd.api.types.is_bool_dtype(column):
            frame[name] = column.astype("float64") if column.isna().any() else column.astype("int8")
        elif pd.api.types.is_integer_dtype(column) and column.isna().any():
            frame[name] = column.astype("float64")
        elif pd.api.types.is_string_dtype(column) or column.dtype == object:
            frame[name] = column.astype(object).where(column.notna(), "")  # Stata strings have no missing
    return frame, convert_dates, value_labels


def write_dta(con: duckdb.DuckDBPyConnection, query: Query, out: Path, codebook: Codebook) -> Path:
    """Stata 118 (UTF-8): variable labels, a data label with table and vintage, value labels for codes."""
    frame = con.execute(query.sql, query.params).df()
    frame, convert_dates, value_labels = _stata_frame(frame, codebook)
    pub_labels = load_publication_docs().labels
    variable_labels = {c.name: stata_label(pub_labels.get(c.name) or c.description or c.name) for c in codebook.columns}
    release = codebook.release
    data_label = codebook.qualified_name
    if release:
        data_label += f", vintage {release.vintage}, release {release.release_id}"
    with _atomic(out) as tmp:
        frame.to_stata(
            tmp,
            write_index=False,
            version=118,
            convert_dates=convert_dates,
            data_label=data_label[:STATA_LABEL_CHARS],
            variable_labels=variable_labels,
            value_labels=value_labels,
        )
    return _write_sidecar(out, codebook)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | decimal.Decimal):
        number = float(value)
        return f"{number:.3f}" if abs(number) < 10 else f"{number:,.2f}".replace(",", "{,}")
    if isinstance(value, dt.date):
        return value.isoformat()
    return latex_escape(str(value))


def write_tex(con: duckdb.DuckDBPyConnection, query: Query, out: Path, codebook: Codebook) -> Path:
    """A booktabs table: escaped values, confidential cells as their status letter, a notes line.

    C and D rows keep their key and have every measure null; showing the
    letter (not a blank) tells the reader the figure exists but is withheld.
    """
    rows = con.execute(query.sql, query.params).fetchall()
    names = [c.name for c in codebook.columns]
    numeric = [_is_numeric_type(c.type) for c in codebook.columns]
    status_at = names.index("conf_status") if "conf_status" in names else None
    body = []
    for row in rows:
        status = row[status_at] if status_at is not None else None
        cells = []
        for value in row:
            if value is None:
                cells.append(status if status in ("C", "D") else NOT_AVAILABLE)
            else:
                cells.append(_latex_cell(value))
        body.append(" & ".join(cells) + r" \\")
    spec = "".join("r" if n else "l" for n in numeric)
    legend = "; ".join(
        f"{column}: " + ", ".join(f"{code.code} {code.label}" for code in codes)
        for column, codes in codebook.legend.items()
    )
    notes = (
        f"Notes: Source: flexemp, {latex_escape(codebook.qualified_name)}; {latex_escape(release_summary(codebook))}. "
    )
    if "conf_status" in codebook.legend:
        notes += (
            "Cells marked C (primary confidential) or D (secondary confidential) exist but are withheld; "
            f"F = free. {NOT_AVAILABLE} = not available. "
        )
    if legend:
        notes += f"Codes: {latex_escape(legend)}. "
    notes += f"Definitions: {latex_escape(sidecar_path(out).name)}."
    lines = [
        f"% {codebook.qualified_name}: generated by flexemp export. Needs \\usepackage{{booktabs}}",
        "% (and a CJK-capable setup such as ctex / xeCJK for Chinese names).",
        r"\begin{table}[htbp]",
        r"\centering",
        f"\\caption{{{latex_escape(codebook.qualified_name)}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(n) for n in names) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
        r"\par\smallskip",
        f"{{\\footnotesize {notes}\\par}}",
        r"\end{table}",
        "",
    ]
    with _atomic(out) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return _write_sidecar(out, codebook)


def _is_numeric_type(duckdb_type: str) -> bool:
    upper = duckdb_type.upper()
    return upper.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL", "HUGEINT", "UBIGINT")) or upper in {
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "TINYINT",
        "UINTEGER",
        "USMALLINT",
        "UTINYINT",
    }


WRITERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Query, Path, Codebook], Path | None]] = {
    "csv": write_csv,
    "parquet": write_parquet,
    "xlsx": write_xlsx,
    "dta": write_dta,
    "tex": write_tex,
}


def write(fmt: str, con: duckdb.DuckDBPyConnection, query: Query, out: Path, codebook: Codebook) -> Path | None:
    """Write `query`'s rows as `fmt`; returns the sidecar codebook's path when the format has one."""
    return WRITERS[fmt](con, query, out, codebook)
