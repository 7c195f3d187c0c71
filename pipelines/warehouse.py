"""The DuckDB warehouse: connections, the one-writer lock, and the ingestion tables.

DuckDB allows one writer per file. A run takes an exclusive OS lock on a file
beside the warehouse before it opens it for writing, so a second run waits for
the first or stops with a clear message instead of failing half-way.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.contract import COLUMNS, DUCKDB_TYPE, EXTRA_COLUMN, SOURCE_TIMEZONE, SOURCES, Schema

# DuckDB's buffer budget per connection. The stages run in one process (Airflow
# in-process), whose Python side (Airflow, dbt, GX, Arrow) holds ~1 GiB more: with
# 3GB the process tree peaked at 4.1-4.2 GiB at 1M in dbt and the raw checks.
MEMORY_LIMIT = os.environ.get("FLEXEMP_MEMORY_LIMIT", "2.75GB")


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse; raised after waiting, never by corrupting it."""


_held_locks: dict[Path, int] = {}


def _lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def warehouse_lock(warehouse: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the exclusive run lock of `warehouse` for the duration of the block.

    Re-entrant within one process, so the CLI can hold it for a whole run while the
    Airflow tasks it runs in-process take it again; a real scheduler's tasks, each
    in its own process, serialise on it (and on the Airflow pool).
    """
    warehouse = warehouse.resolve()
    if warehouse in _held_locks:
        yield
        return
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    path = _lock_path(warehouse)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise WarehouseBusy(
                    f"another run holds the warehouse {warehouse} ({holder}); "
                    f"waited {wait_seconds:.0f}s. Try again when it has finished."
                ) from None
            time.sleep(0.5)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
    _held_locks[warehouse] = fd
    try:
        yield
    finally:
        del _held_locks[warehouse]
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def connect(warehouse: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the session settings every stage relies on.

    The session time zone is Asia/Shanghai so that naive source timestamps cast to
    TIMESTAMPTZ mean Shanghai wall-clock time, as the contract says.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=read_only)
    con.execute(f"SET TimeZone = '{SOURCE_TIMEZONE}'")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


def raw_table_ddl(source: str) -> str:
    cols = [f"{c.name} {DUCKDB_TYPE[c.kind]}" for c in COLUMNS[source]]
    cols += [
        f"{EXTRA_COLUMN} JSON",
        "file_path VARCHAR NOT NULL",
        "source_row INTEGER NOT NULL",
        "load_id VARCHAR NOT NULL",
        "delivery_date DATE NOT NULL",
    ]
    return f"CREATE TABLE IF NOT EXISTS {Schema.RAW}.{source} ({', '.join(cols)})"


def quarantine_table_ddl(source: str) -> str:
    cols = [f"{c.name} VARCHAR" for c in COLUMNS[source]]
    cols += [
        f"{EXTRA_COLUMN} JSON",
        "raw_line VARCHAR",
        "reason_code VARCHAR NOT NULL",
        "reason_detail VARCHAR NOT NULL",
        "file_path VARCHAR NOT NULL",
        "source_row INTEGER",
        "load_id VARCHAR NOT NULL",
        "delivery_date DATE NOT NULL",
    ]
    return f"CREATE TABLE IF NOT EXISTS {Schema.QUARANTINE}.{source} ({', '.join(cols)})"


AUDIT_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {Schema.AUDIT}.load_ledger (
        source VARCHAR NOT NULL, platform_id VARCHAR NOT NULL, delivery_date DATE,
        file_path VARCHAR NOT NULL PRIMARY KEY, sha256 VARCHAR, file_bytes BIGINT,
        status VARCHAR NOT NULL, rows_delivered BIGINT NOT NULL, rows_loaded BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL, error VARCHAR, duplicate_of VARCHAR, load_id VARCHAR,
        run_id VARCHAR, loaded_at TIMESTAMPTZ NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {Schema.AUDIT}.schema_drift (
        source VARCHAR NOT NULL, platform_id VARCHAR NOT NULL, file_path VARCHAR NOT NULL,
        column_name VARCHAR NOT NULL, load_id VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {Schema.AUDIT}.runs (
        run_id VARCHAR PRIMARY KEY, landing VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ, status VARCHAR NOT NULL, pipeline_version VARCHAR NOT NULL,
        loaded_through TIMESTAMPTZ, dbt_project_fingerprint VARCHAR)""",
    # warehouses created before the column (pipelines.dbt_selection)
    f"ALTER TABLE {Schema.AUDIT}.runs ADD COLUMN IF NOT EXISTS dbt_project_fingerprint VARCHAR",
)


def ensure_ingest_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas and tables ingestion writes; safe to call on every run."""
    for schema in (Schema.RAW, Schema.QUARANTINE, Schema.AUDIT):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for source in SOURCES:
        con.execute(raw_table_ddl(source))
        con.execute(quarantine_table_ddl(source))
    for ddl in AUDIT_DDL:
        con.execute(ddl)
