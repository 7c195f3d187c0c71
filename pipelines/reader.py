"""Turn the bytes of one delivered file into text columns, malformed rows and drift.

Everything is kept as text here; typing and rule checks happen set-wise in
`validate.py`, so a bad value becomes a quarantined row with a reason instead of
a parse error that loses the file.

Rows stay Arrow tables (large_string, what both pyarrow's CSV reader and Polars
hand over without a copy) from parser to DuckDB. A file only selects its columns;
trimming and blank-to-null (`trimmed`) run once per batch of files, as Arrow
kernels: per file they cost a third of the ingest of the many small files, and a
Polars round trip per CSV file copied every string. Polars reads JSON Lines and
renders Parquet's native types as text.

Why pyarrow for CSV: its reader hands each record with a wrong field count (or an
unterminated quote) to `invalid_row_handler` and goes on with the rest of the
file, which is exactly the contract's `malformed_row`. Polars pads short records
with nulls silently.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass, field

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.contract import EXTRA_COLUMN, FileError, column_names, required_columns

UTF8_BOM = b"\xef\xbb\xbf"
NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
NATIONAL_ID_MASK = "[national-id masked]"
# Unicode White_Space, the set Polars' strip_chars() trims (Arrow's utf8_trim_whitespace adds U+001C-U+001F).
WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


class FileRejected(Exception):
    """The whole file cannot be loaded; the ledger records `code` and the message."""

    def __init__(self, code: FileError, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class ParsedFile:
    """A file's records as text: `rows` has every contract column (untrimmed), `_extra` and `source_row`."""

    rows: pa.Table
    malformed: pl.DataFrame  # source_row, raw_line (national IDs already masked)
    drift_columns: list[str] = field(default_factory=list)

    @property
    def rows_delivered(self) -> int:
        return self.rows.num_rows + self.malformed.height


def mask_national_ids(text: str) -> str:
    return NATIONAL_ID.sub(NATIONAL_ID_MASK, text)


def parse_file(data: bytes, suffix: str, source: str) -> ParsedFile:
    if suffix.endswith(".gz"):
        data = _gunzip(data)
        suffix = suffix.removesuffix(".gz")
    if not data.strip():
        return _empty(source)
    if suffix == ".csv":
        return _parse_csv(_utf8(data), source)
    if suffix == ".jsonl":
        return _parse_jsonl(_utf8(data), source)
    if suffix == ".parquet":
        return _parse_parquet(data, source)
    raise FileRejected(FileError.UNREADABLE_FILE, f"unsupported file type {suffix!r}")


def _gunzip(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(FileError.UNREADABLE_FILE, f"bad gzip compression ({exc})") from None


def _utf8(data: bytes) -> bytes:
    """UTF-8 bytes without BOM; GB18030 (a superset of GBK) is detected by UTF-8 failing to decode."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            FileError.UNREADABLE_FILE, f"bytes are neither UTF-8 nor GB18030 (offset {exc.start})"
        ) from None


def rows_schema(source: str) -> pa.Schema:
    """The schema of `ParsedFile.rows`: every contract column and `_extra` as text, then `source_row`."""
    text = [(c, pa.large_string()) for c in (*column_names(source), EXTRA_COLUMN)]
    return pa.schema([*text, ("source_row", pa.int32())])


def _empty(source: str) -> ParsedFile:
    return ParsedFile(rows=rows_schema(source).empty_table(), malformed=_no_malformed())


def _no_malformed() -> pl.DataFrame:
    return pl.DataFrame(schema={"source_row": pl.Int32, "raw_line": pl.String})


def _check_required(columns: list[str], source: str) -> None:
    missing = [c for c in required_columns(source) if c not in columns]
    if missing:
        raise FileRejected(
            FileError.MISSING_REQUIRED_COLUMN, f"required column(s) missing from the file: {', '.join(missing)}"
        )


def _parse_csv(data: bytes, source: str) -> ParsedFile:
    first_line = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    header = [name.strip() for name in next(csv.reader([first_line]))]
    if len(set(header)) != len(header):
        raise FileRejected(FileError.UNREADABLE_FILE, "the CSV header repeats a column name")
    _check_required(header, source)
    bad: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append(row.text)
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False, skip_rows=1, column_names=header),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.large_string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise FileRejected(FileError.UNREADABLE_FILE, f"not a readable CSV file ({exc})") from None
    malformed_lines = _line_numbers(data.decode("utf-8"), bad)
    records = table.num_rows + len(bad)
    # Record ordinals: a malformed record starting on line L is record L-1 (the header is line 1).
    malformed_rows = np.asarray([line - 1 for line in malformed_lines], dtype=np.int32)
    good_rows = np.setdiff1d(np.arange(1, records + 1, dtype=np.int32), malformed_rows)[: table.num_rows]
    malformed = pl.DataFrame(
        {"source_row": malformed_rows, "raw_line": [mask_national_ids(t) for t in bad]},
        schema={"source_row": pl.Int32, "raw_line": pl.String},
    )
    return _canonical(table, source, good_rows, malformed)


def _line_numbers(text: str, records: list[str]) -> list[int]:
    """Where each malformed record starts; a loop over the (few) bad records only.

    A record is a whole line-aligned run of text: a cut-short last line is also a
    prefix of earlier good lines, so a bare `find` would place it too early.
    """
    lines, position = [], 0
    for record in records:
        found = _find_record(text, record, position)
        if found < 0:
            found = _find_record(text, record, 0)
        lines.append(text.count("\n", 0, max(found, 0)) + 1)
        position = max(found, 0) + len(record)
    return lines


def _find_record(text: str, record: str, start: int) -> int:
    found = text.find(record, start)
    while found >= 0:
        end = found + len(record)
        starts_line = found == 0 or text[found - 1] == "\n"
        ends_line = end == len(text) or text[end] in "\r\n"
        if starts_line and ends_line:
            return found
        found = text.find(record, found + 1)
    return -1


def _parse_jsonl(data: bytes, source: str) -> ParsedFile:
    """JSON Lines: each line is one record.

    Polars reads a well-formed file in one call; a file with a broken or blank
    line goes the slower way, where DuckDB's JSON functions check every line
    set-wise so the broken ones become malformed rows.
    """
    if b"\n\n" not in data and not data.startswith((b"\n", b"\r")):
        try:
            frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
        except (pl.exceptions.PolarsError, ValueError):
            pass
        else:
            rows = np.arange(1, frame.height + 1, dtype=np.int32)
            return _canonical(
                frame.select(_as_text(n, t) for n, t in frame.schema.items()).to_arrow(), source, rows, _no_malformed()
            )
    return _parse_jsonl_line_by_line(data, source)


def _parse_jsonl_line_by_line(data: bytes, source: str) -> ParsedFile:
    lines = pa.table({"line": pa.array(data.decode("utf-8").split("\n"))})
    con = duckdb.connect()
    con.register("lines", lines)
    con.execute(
        """CREATE TABLE numbered AS SELECT * FROM (
               SELECT CAST(row_number() OVER () AS INTEGER) AS line_no, rtrim(line, chr(13)) AS line FROM lines)
           WHERE trim(line) <> ''"""
    )
    con.execute(
        """ALTER TABLE numbered ADD COLUMN is_object BOOLEAN;
           UPDATE numbered SET is_object = CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"""
    )
    is_object = "is_object"
    malformed = con.sql(
        f"SELECT line_no AS source_row, line AS raw_line FROM numbered WHERE NOT ({is_object}) ORDER BY 1"
    ).pl()
    keys = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT unnest(json_keys(line::JSON)) FROM numbered WHERE {is_object} ORDER BY 1"
        ).fetchall()
    ]
    key_exprs = "".join(f", line::JSON ->> {_json_path(k)} AS {_quote_ident(k)}" for k in keys)
    good = con.sql(f"SELECT line_no{key_exprs} FROM numbered WHERE {is_object} ORDER BY line_no").pl()
    con.close()
    malformed = malformed.with_columns(
        pl.col("source_row").cast(pl.Int32),
        pl.col("raw_line").map_elements(mask_national_ids, return_dtype=pl.String),
    )
    return _canonical(
        good.drop("line_no").to_arrow(), source, good["line_no"].cast(pl.Int32).to_numpy(), malformed
    )


def _json_path(key: str) -> str:
    escaped = key.replace("'", "''").replace('"', '\\"')
    return f"'$.\"{escaped}\"'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parse_parquet(data: bytes, source: str) -> ParsedFile:
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileRejected(FileError.UNREADABLE_FILE, f"not a readable Parquet file ({exc})") from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    _check_required(frame.columns, source)
    rows = np.arange(1, frame.height + 1, dtype=np.int32)
    return _canonical(
        frame.select(_as_text(name, dtype) for name, dtype in frame.schema.items()).to_arrow(),
        source,
        rows,
        _no_malformed(),
    )


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """Native Parquet types as the text a CSV would carry (timestamps keep their zone)."""
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.strftime("%Y-%m-%dT%H:%M:%S%.f").alias(name)
        return col.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.f+00:00").alias(name)
    if isinstance(dtype, pl.Date):
        return col.dt.strftime("%Y-%m-%d").alias(name)
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false")).alias(name)
    if isinstance(dtype, pl.Struct | pl.List):
        return (
            col.struct.json_encode().alias(name)
            if isinstance(dtype, pl.Struct)
            else col.cast(pl.String, strict=False).alias(name)
        )
    return col.cast(pl.String).alias(name)


def _canonical(table: pa.Table, source: str, rows: np.ndarray, malformed: pl.DataFrame) -> ParsedFile:
    """Every contract column (absent ones null), unknown columns packed into `_extra` as JSON."""
    expected = column_names(source)
    extras = [c for c in table.column_names if c not in expected]
    absent = pa.nulls(table.num_rows, pa.large_string())
    columns = [_large_text(table[c]) if c in table.column_names else absent for c in expected]
    extra = (
        pl.from_arrow(table.select(extras))
        .select(pl.struct(pl.all().cast(pl.String)).struct.json_encode())
        .to_series()
        .to_arrow()
        if extras and table.num_rows
        else absent
    )
    rows_table = pa.Table.from_arrays(
        [*columns, _large_text(extra), pa.array(rows, pa.int32())], schema=rows_schema(source)
    )
    return ParsedFile(rows=rows_table, malformed=malformed, drift_columns=extras)


def _large_text(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return column if column.type == pa.large_string() else column.cast(pa.large_string())


def trimmed(rows: pa.Table, source: str) -> pa.Table:
    """`rows` (of one or many files) with every contract column trimmed of whitespace, blanks as null."""
    for name in column_names(source):
        i = rows.schema.get_field_index(name)
        text = pc.utf8_trim(rows[name], characters=WHITESPACE)
        rows = rows.set_column(i, name, pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text))
    return rows
