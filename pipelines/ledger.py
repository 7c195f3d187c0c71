"""audit.load_ledger: which files are known, and the per-file account of their rows.

The ledger is what makes re-runs safe: a file path already recorded is never read
again, and bytes already loaded (same sha256, any name or folder) are a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from pipelines.contract import LedgerStatus, Schema

LEDGER = f"{Schema.AUDIT}.load_ledger"


@dataclass
class LedgerEntry:
    """One delivered file's outcome, before its counts are known for loaded files."""

    file_idx: int
    source: str
    platform_id: str
    delivery_date: date | None
    file_path: str
    sha256: str | None
    file_bytes: int | None
    status: LedgerStatus
    load_id: str | None = None
    error: str | None = None
    duplicate_of: str | None = None


def known_paths(con: duckdb.DuckDBPyConnection, source: str) -> set[str]:
    return {r[0] for r in con.execute(f"SELECT file_path FROM {LEDGER} WHERE source = ?", [source]).fetchall()}


def loaded_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """sha256 -> first file loaded with those bytes (rejected files do not count: a fixed
    re-delivery of the same bytes into the right folder must still load)."""
    rows = con.execute(
        f"SELECT sha256, min(file_path) FROM {LEDGER} WHERE status = ? GROUP BY sha256", [LedgerStatus.LOADED]
    ).fetchall()
    return dict(rows)


ENTRY_COLUMNS = (
    "file_idx",
    "source",
    "platform_id",
    "delivery_date",
    "file_path",
    "sha256",
    "file_bytes",
    "status",
    "load_id",
    "error",
    "duplicate_of",
)


def write_entries(con: duckdb.DuckDBPyConnection, files_table: str, counts_table: str, run_id: str) -> None:
    """Insert one ledger row per file of the batch; counts come from the validated rows.

    rows_delivered = rows_loaded + rows_quarantined holds by construction, and is
    checked again by the GX suite and the tests.
    """
    con.execute(
        f"""INSERT INTO {LEDGER}
            SELECT f.source, f.platform_id, f.delivery_date, f.file_path, f.sha256, f.file_bytes, f.status,
                   coalesce(c.loaded, 0) + coalesce(c.quarantined, 0), coalesce(c.loaded, 0),
                   coalesce(c.quarantined, 0), f.error, f.duplicate_of, f.load_id, ?, now()
            FROM {files_table} AS f LEFT JOIN {counts_table} AS c USING (file_idx)""",
        [run_id],
    )
