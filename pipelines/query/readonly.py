"""Analysts' queries: a locked-down, read-only connection to the analyst database.

Three layers, strongest first:

1. The file: the analyst database holds only `marts`, `pub` and `ref`
   (pipelines/query/analyst_db.py), so person-level tables cannot be reached
   whatever the SQL, and it is not the warehouse, so a query never blocks or
   breaks a run and never sees a run's half-written tables.
2. DuckDB's lock-down: `read_only=True`, `enable_external_access=false`, then
   `SET lock_configuration = true` - no file reads or writes (`read_csv`,
   `COPY ... TO`, `EXPORT`), no ATTACH of the warehouse, no INSTALL, no later SET
   to undo any of it (verified in shared/notes/environment.md).
3. Statement check (`check_sql`): one SELECT-type statement per call; PRAGMA, SET,
   ATTACH, COPY, INSTALL, LOAD, EXPORT, CALL and anything else are refused with a
   clear message before DuckDB sees them. Defence in depth, and a better message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import duckdb

from pipelines.query.analyst_db import EXCLUDED_SCHEMAS, analyst_db_path

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

T = TypeVar("T")

ANALYST_MEMORY_LIMIT = os.environ.get("FLEXEMP_ANALYST_MEMORY_LIMIT", "2GB")
"""A cap per analyst connection, so a heavy query cannot starve a run on the same machine."""

_CONFIG: dict[str, str | bool] = {"enable_external_access": False, "memory_limit": ANALYST_MEMORY_LIMIT}


class AnalystDbMissing(FileNotFoundError):
    """No analyst database yet: no run has completed against this warehouse."""


class QueryRefused(PermissionError):
    """The SQL is not a single read statement, or it tried to reach outside the analyst database."""


def check_sql(sql: str) -> str:
    """Return `sql` if it is exactly one SELECT-type statement; raise QueryRefused otherwise.

    SELECT-type includes WITH ... SELECT, FROM-first queries, VALUES, DESCRIBE,
    SHOW and SUMMARIZE. A parse error is not a refusal: DuckDB reports it when the
    statement runs, with its own position marker.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.ParserException:
        return sql
    if not statements:
        raise QueryRefused("no SQL statement given")
    if len(statements) > 1:
        raise QueryRefused(f"one statement at a time: got {len(statements)}; send each SELECT separately")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = kind.name if hasattr(kind, "name") else str(kind)
        raise QueryRefused(
            f"only read queries (SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE) are allowed here; "
            f"this is a {name} statement"
        )
    return sql


def open_analyst(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A read-only, locked-down connection to the analyst database of `warehouse`.

    Opens the build the analyst symlink points at now (a versioned file), so a
    process that still holds a connection to an older build gets the new one
    rather than DuckDB's cached instance of the old. Refuses a file that holds a
    person-level schema: that would be the warehouse or a wrongly built copy.
    """
    con = _connect_current(analyst_db_path(warehouse))
    try:
        locked = con.execute("SELECT current_setting('lock_configuration')").fetchone()
        if not (locked and locked[0]):  # a cached instance of this build is locked already
            con.execute("SET lock_configuration = true")
        forbidden = [str(s) for s in EXCLUDED_SCHEMAS]
        leaked = con.execute(
            f"SELECT DISTINCT schema_name FROM duckdb_schemas() "
            f"WHERE schema_name IN ({', '.join('?' for _ in forbidden)}) ORDER BY 1",
            forbidden,
        ).fetchall()
        if leaked:
            raise QueryRefused(
                f"the analyst database contains {', '.join(s for (s,) in leaked)}; it must hold only "
                "marts, pub and ref. Rebuild it (refresh_analyst_db) before querying."
            )
    except BaseException:
        con.close()
        raise
    return con


def _connect_current(stable: Path) -> duckdb.DuckDBPyConnection:
    """Resolve the symlink and open that build; retry if a refresh removed it in between."""
    for _ in range(3):
        if not stable.exists():
            raise AnalystDbMissing(
                f"no completed run yet: the analyst database {stable} does not exist. "
                "It is built at the end of each successful `flexemp run`."
            )
        build = stable.resolve()
        try:
            return duckdb.connect(str(build), read_only=True, config=_CONFIG)
        except duckdb.IOException:
            if build.exists():
                raise
    raise AnalystDbMissing(f"the analyst database {stable} kept changing while opening it; try again")


def run_query(warehouse: Path, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read statement on the analyst database: (column names, rows), at most `limit` rows.

    A query that DuckDB's lock-down stops (a file, ATTACH, a setting) raises
    QueryRefused like one the statement check stops, so callers handle one kind
    of refusal. Other DuckDB errors (unknown table, syntax) propagate as they are,
    with a hint when the table is in a schema that analysts cannot see.
    """
    check_sql(sql)
    con = open_analyst(warehouse)
    try:
        cursor = _execute(con, sql)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        return columns, rows
    finally:
        con.close()


def query_frame(warehouse: Path, sql: str, kind: Literal["polars", "pandas"] = "polars") -> pl.DataFrame | pd.DataFrame:
    """The result of one read statement as a Polars (default) or pandas frame, for notebooks."""
    check_sql(sql)
    con = open_analyst(warehouse)
    try:
        if kind == "polars":
            return _guarded(sql, lambda: con.sql(sql).pl())
        return _guarded(sql, lambda: con.sql(sql).df())
    finally:
        con.close()


def _execute(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
    return _guarded(sql, lambda: con.execute(sql))


_PERSON_LEVEL = re.compile(r"\b(" + "|".join(str(s) for s in EXCLUDED_SCHEMAS) + r")\.", re.IGNORECASE)


def _guarded(sql: str, run: Callable[[], T]) -> T:
    """Run a DuckDB call, turning lock-down errors into QueryRefused and hinting at absent schemas."""
    try:
        return run()
    except duckdb.PermissionException as exc:
        raise QueryRefused(f"analyst queries cannot reach files or other databases.\n{exc}") from exc
    except duckdb.InvalidInputException as exc:
        if "configuration has been locked" in str(exc) or "read-only mode" in str(exc):
            raise QueryRefused(f"the analyst database is read-only and its settings are locked.\n{exc}") from exc
        raise
    except duckdb.CatalogException as exc:
        match = _PERSON_LEVEL.search(sql)
        if match:
            raise duckdb.CatalogException(
                f"{exc}\nHint: {match.group(1)} is not in the analyst database; analysts query marts, pub and ref."
            ) from exc
        raise
