"""Load one source's new deliveries: discover, hash, read, validate, commit.

Files are read and parsed in a small thread pool (I/O, hashing, decompression and
pyarrow parsing release the GIL) while the main thread validates and writes in
batches. A batch's raw rows, quarantine rows, drift records and ledger rows are
committed in one transaction, so a crash leaves whole files or nothing.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from pipelines import ledger
from pipelines.contract import COLUMNS, EXTRA_COLUMN, FileError, LedgerStatus, Reason, Schema
from pipelines.landing import LandedFile, discover, read_bytes
from pipelines.reader import FileRejected, ParsedFile, parse_file, rows_schema, trimmed
from pipelines.reference import known_occupations, known_platforms, known_regions
from pipelines.validate import mask_sql, validated_sql
from pipelines.warehouse import ensure_ingest_tables

BATCH_ROWS = 500_000
READ_AHEAD = 32
READ_THREADS = 3

MALFORMED_DETAIL = "cannot be parsed (wrong number of fields, broken quoting or not a JSON object)"

Progress = Callable[[int, int, int], None]  # files done, files total, rows done


@dataclass
class IngestResult:
    source: str
    files_new: int = 0
    files_loaded: int = 0
    files_rejected: int = 0
    files_duplicate: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rejected: list[str] = field(default_factory=list)  # "path: error" per rejected file
    load_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Prepared:
    file: LandedFile
    sha256: str | None
    size: int | None
    parsed: ParsedFile | None = None
    rejection: FileRejected | None = None


@dataclass
class _Batch:
    entries: list[ledger.LedgerEntry] = field(default_factory=list)
    parsed: list[tuple[int, ParsedFile]] = field(default_factory=list)
    rows: int = 0


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    landing: str,
    source: str,
    run_id: str,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> IngestResult:
    """Load every file of `source` under `landing` that the ledger does not know yet."""
    ensure_ingest_tables(con)
    _register_reference(con)
    known = ledger.known_paths(con, source)
    new_files = [f for f in discover(landing, source) if f.path not in known]
    result = IngestResult(source, files_new=len(new_files))
    seen = ledger.loaded_hashes(con)
    platforms = known_platforms()
    batch = _Batch()
    for done, prepared in enumerate(_ordered_map(lambda f: _prepare(landing, f, platforms), new_files), start=1):
        entry = _entry(len(batch.entries), prepared, seen)
        batch.entries.append(entry)
        if entry.status is LedgerStatus.LOADED:
            assert prepared.parsed is not None and prepared.sha256 is not None
            seen[prepared.sha256] = prepared.file.path
            batch.parsed.append((entry.file_idx, prepared.parsed))
            batch.rows += prepared.parsed.rows_delivered
        if batch.rows >= batch_rows:
            _commit(con, source, batch, run_id, result)
            batch = _Batch()
        if progress:
            progress(done, len(new_files), result.rows_loaded + result.rows_quarantined + batch.rows)
    if batch.entries:
        _commit(con, source, batch, run_id, result)
    # The later stages run in this process and share its memory budget: mimalloc
    # keeps freed Arrow pages (~0.4 GiB after the income records at 1M) until asked.
    pa.default_memory_pool().release_unused()
    return result


T = TypeVar("T")
R = TypeVar("R")


def _ordered_map(fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """Like Executor.map, but only READ_AHEAD items in flight, so memory stays bounded."""
    with ThreadPoolExecutor(READ_THREADS) as pool:
        window: deque[Future[R]] = deque()
        for item in items:
            window.append(pool.submit(fn, item))
            if len(window) >= READ_AHEAD:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _prepare(landing: str, file: LandedFile, platforms: frozenset[str]) -> _Prepared:
    data = read_bytes(landing, file)
    prepared = _Prepared(file, hashlib.sha256(data).hexdigest(), len(data))
    try:
        if file.platform_id not in platforms:
            raise FileRejected(
                FileError.UNKNOWN_PLATFORM,
                f"platform folder {file.platform_id!r} is not in the platform reference table; "
                "the whole folder is rejected",
            )
        if file.delivery_date is None:
            raise FileRejected(
                FileError.UNREADABLE_FILE,
                f"delivery folder {file.delivery_folder!r} is not a date YYYY-MM-DD",
            )
        if file.suffix is None:
            raise FileRejected(FileError.UNREADABLE_FILE, "not a supported file type (.csv, .jsonl, .parquet, .gz)")
        prepared.parsed = parse_file(data, file.suffix, file.source)
    except FileRejected as exc:
        prepared.rejection = exc
    return prepared


def _entry(idx: int, prepared: _Prepared, seen: dict[str, str]) -> ledger.LedgerEntry:
    f = prepared.file
    entry = ledger.LedgerEntry(
        idx, f.source, f.platform_id, f.delivery_date, f.path, prepared.sha256, prepared.size, LedgerStatus.LOADED
    )
    if prepared.sha256 in seen:
        entry.status = LedgerStatus.DUPLICATE
        entry.duplicate_of = seen[prepared.sha256]
        entry.error = f"duplicate: same bytes as {entry.duplicate_of}"
    elif prepared.rejection is not None:
        entry.status = LedgerStatus.REJECTED
        entry.error = str(prepared.rejection)
    else:
        entry.load_id = prepared.sha256[:16] if prepared.sha256 else None
    return entry


def _register_reference(con: duckdb.DuckDBPyConnection) -> None:
    con.register("_ref_regions", pl.DataFrame({"region_code": sorted(known_regions())}).to_arrow())
    con.register("_ref_occupations", pl.DataFrame({"occupation_code": sorted(known_occupations())}).to_arrow())


def _commit(con: duckdb.DuckDBPyConnection, source: str, batch: _Batch, run_id: str, result: IngestResult) -> None:
    """Write one batch of files in a single transaction."""
    files = pl.DataFrame(
        [{k: getattr(e, k) for k in ledger.ENTRY_COLUMNS} for e in batch.entries],
        schema={
            "file_idx": pl.Int32,
            "source": pl.String,
            "platform_id": pl.String,
            "delivery_date": pl.Date,
            "file_path": pl.String,
            "sha256": pl.String,
            "file_bytes": pl.Int64,
            "status": pl.String,
            "load_id": pl.String,
            "error": pl.String,
            "duplicate_of": pl.String,
        },
    )
    rows = trimmed(
        pa.concat_tables(
            [p.rows.append_column("file_idx", pa.array(np.full(p.rows.num_rows, i, np.int32))) for i, p in batch.parsed]
            or [rows_schema(source).append(pa.field("file_idx", pa.int32())).empty_table()]
        ),
        source,
    )
    malformed = _stack(
        [p.malformed.with_columns(pl.lit(i, pl.Int32).alias("file_idx")) for i, p in batch.parsed],
        {"source_row": pl.Int32, "raw_line": pl.String, "file_idx": pl.Int32},
    )
    drift = pl.DataFrame(
        [(i, c) for i, p in batch.parsed for c in p.drift_columns],
        schema={"file_idx": pl.Int32, "column_name": pl.String},
        orient="row",
    )
    for name, frame in (("_files", files), ("_malformed", malformed), ("_drift", drift)):
        con.register(name, frame.to_arrow())
    con.register("_batch", rows)
    cols = [c.name for c in COLUMNS[source]]
    raw, quarantine = f"{Schema.RAW}.{source}", f"{Schema.QUARANTINE}.{source}"
    con.begin()
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _validated AS {validated_sql(source, '_batch', '_files')}")
        con.execute(f"""INSERT INTO {raw} SELECT {", ".join(f'"{c}"' for c in cols)}, CAST({EXTRA_COLUMN} AS JSON),
                        file_path, source_row, load_id, _delivery_date
                        FROM _validated WHERE reason_code IS NULL ORDER BY file_path, source_row""")
        con.execute(f"""INSERT INTO {quarantine}
                        SELECT {", ".join(mask_sql(f'"t_{c}"') for c in cols)}, {mask_sql(EXTRA_COLUMN)},
                               NULL, reason_code, reason_detail, file_path, source_row, load_id, _delivery_date
                        FROM _validated WHERE reason_code IS NOT NULL ORDER BY file_path, source_row""")
        con.execute(f"""INSERT INTO {quarantine} (raw_line, reason_code, reason_detail, file_path, source_row,
                                                   load_id, delivery_date)
                        SELECT m.raw_line, '{Reason.MALFORMED_ROW}',
                               'record ' || m.source_row || ' {MALFORMED_DETAIL}',
                               f.file_path, m.source_row, f.load_id, f.delivery_date
                        FROM _malformed AS m JOIN _files AS f USING (file_idx)""")
        con.execute(f"""INSERT INTO {Schema.AUDIT}.schema_drift
                        SELECT f.source, f.platform_id, f.file_path, d.column_name, f.load_id
                        FROM _drift AS d JOIN _files AS f USING (file_idx)""")
        con.execute("""CREATE OR REPLACE TEMP TABLE _counts AS
                       SELECT file_idx, sum(loaded) AS loaded, sum(quarantined) AS quarantined FROM (
                           SELECT f.file_idx, count(*) FILTER (WHERE reason_code IS NULL) AS loaded,
                                  count(*) FILTER (WHERE reason_code IS NOT NULL) AS quarantined
                           FROM _validated JOIN _files AS f USING (file_path) GROUP BY ALL
                           UNION ALL
                           SELECT file_idx, 0, count(*) FROM _malformed GROUP BY ALL)
                       GROUP BY file_idx""")
        ledger.write_entries(con, "_files", "_counts", run_id)
        counts = con.execute("SELECT coalesce(sum(loaded), 0), coalesce(sum(quarantined), 0) FROM _counts").fetchall()
        con.execute("DROP TABLE _validated; DROP TABLE _counts")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        for name in ("_files", "_batch", "_malformed", "_drift"):
            con.unregister(name)
    loaded, quarantined = counts[0]
    result.rows_loaded += int(loaded)
    result.rows_quarantined += int(quarantined)
    for e in batch.entries:
        if e.status is LedgerStatus.LOADED:
            result.files_loaded += 1
            result.load_ids.append(e.load_id or "")
        elif e.status is LedgerStatus.REJECTED:
            result.files_rejected += 1
            result.rejected.append(f"{e.file_path}: {e.error}")
        else:
            result.files_duplicate += 1


def _stack(frames: list[pl.DataFrame], schema: dict) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
