"""The analyst database: a copy of the aggregate schemas, rebuilt after every successful run.

Why a separate file. DuckDB's lock-down (read-only, no external access, locked
configuration) refuses files, ATTACH and SET, but every table of the opened file
stays readable; so person-level data (`raw`, `quarantine`, `staging`,
`intermediate`, `dq`) and the run records (`audit`) are out of analysts' reach
only because the file they open does not contain them. And a run holds the
warehouse for writing for its whole length (one writer per DuckDB file), so a
query against the warehouse would have to wait or fail; the analyst file answers
from the last completed run meanwhile.

How it is swapped. Every refresh writes a complete new file under a temporary
name, renames it to a versioned name (`<stem>_analyst.v<ns>.duckdb`) and then
atomically replaces the symlink `<stem>_analyst.duckdb` (`os.replace`), so a
reader sees the previous complete file or the new one, never a half-written one.
A connection already open keeps reading its own file (POSIX keeps an unlinked
file alive while it is open). A versioned name per build, rather than one file
replaced in place, is what lets a process that still holds a connection to the
old file open the new one: DuckDB's Python client caches one database instance
per path, so reopening the same path would silently return the old data.

Why a build starts from a copy of the previous one. `pub`'s history tables grow
by every release's rows (~175k at 1M workers), so copying them whole would make
every run slower over the year (12M history rows took 11.5 s). A new build is a
byte copy of the current one (a file copy, at disk speed) in which every table is
replaced except the history tables, which get only the releases they lack: a
release's rows are never rewritten in the warehouse. That holds only while the
copy descends from the same releases (same ids and release times in
`pub.releases`) and a history table's columns are unchanged; otherwise, and when
there is no previous build, the table is copied whole. `pub.revisions` (every
figure ever released, 2.5M rows at 1M workers) is kept when the copy has the
same releases, and brought forward by the warehouse's own fold when it lacks
only the newest (`releases.fold_into_revisions`); otherwise it is copied.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

import duckdb

from pipelines.contract import Schema
from pipelines.publish.releases import fold_into_revisions

ANALYST_SCHEMAS: tuple[Schema, ...] = (Schema.MARTS, Schema.PUB, Schema.REF)
"""Copied: aggregates (marts: inside the office; pub: may leave it) and reference data."""

EXCLUDED_SCHEMAS: tuple[Schema, ...] = (
    Schema.RAW,
    Schema.QUARANTINE,
    Schema.AUDIT,
    Schema.STAGING,
    Schema.INTERMEDIATE,
    Schema.DQ,
)
"""Never copied: person-level data and run records (spec: indicators.md, 'Publication rules')."""

REVISIONS = (str(Schema.PUB), "revisions")
"""`pub.revisions`: per key and measure, the first and latest released value (releases.py)."""

HISTORY_SUFFIX = "_history"
"""`pub.<table>_history`: every row of every release, appended, never rewritten (releases.py)."""

BUILD_INFO_TABLE = "build_info"
"""`main.build_info` in the analyst file: when it was built, from which warehouse, which tables."""

_SOURCE_ALIAS = "flexemp_warehouse"
_TARGET_ALIAS = "flexemp_analyst_build"


class AnalystRefreshError(RuntimeError):
    """The analyst database could not be rebuilt; the previous one (if any) is left in place."""


class UnusablePreviousBuild(RuntimeError):
    """The previous build cannot be the start of the next one; it is built from nothing instead."""


def analyst_db_path(warehouse: Path) -> Path:
    """The file analysts open: `<stem>_analyst.duckdb` beside the warehouse (a symlink to the current build)."""
    return warehouse.with_name(f"{warehouse.stem}_analyst.duckdb")


def refresh_analyst_db(warehouse: Path, con: duckdb.DuckDBPyConnection | None = None) -> Path:
    """Rebuild the analyst database from the warehouse's `marts`, `pub` and `ref`; return its path.

    The caller holds the warehouse lock (no run writes meanwhile). By default the
    warehouse is attached READ_ONLY from a fresh DuckDB file, so no writable
    connection to it is needed. A caller that already has the warehouse open in
    this process may pass that connection instead: DuckDB refuses to attach a file
    a second time in one process, so the copy then runs through `con` (which only
    reads the warehouse). Schemas missing from the warehouse (e.g. `pub` before the
    first publication) are skipped. On any failure the previous analyst file stays
    in place and the half-built one is removed.
    """
    warehouse = warehouse.resolve()
    if not warehouse.is_file():
        raise AnalystRefreshError(f"no warehouse at {warehouse}: nothing to copy for analysts")
    stable = analyst_db_path(warehouse)
    _remove_stale_builds(stable)
    version = stable.with_name(f"{stable.stem}.v{time.time_ns():020d}.duckdb")
    building = version.with_name(version.name + ".tmp")
    previous = _current_version(stable)
    try:
        try:
            _build(warehouse, building, con, start_from=stable.parent / previous if previous else None)
        except AnalystRefreshError:
            raise
        except Exception:
            if not previous:
                raise
            # the previous build could not be extended (damaged, or unlike this warehouse): copy everything
            _discard(building)
            _build(warehouse, building, con, start_from=None)
        os.replace(building, version)
    except BaseException:
        _discard(building)
        raise
    _swap_symlink(stable, version)
    _remove_old_versions(stable, keep={version.name, previous})
    return stable


def _build(
    warehouse: Path, building: Path, con: duckdb.DuckDBPyConnection | None, start_from: Path | None
) -> None:
    """Write the new build at `building`, from a byte copy of `start_from` when there is one."""
    if start_from is not None and start_from.is_file():
        shutil.copyfile(start_from, building)
    if con is None:
        _build_from_file(warehouse, building)
    else:
        _build_through(con, building)


def _discard(building: Path) -> None:
    _unlink(building)
    _unlink(building.with_name(building.name + ".wal"))


def _build_from_file(warehouse: Path, building: Path) -> None:
    """Open the new file, attach the warehouse read-only, copy, close (close checkpoints: no WAL left)."""
    target = duckdb.connect(str(building))
    try:
        try:
            target.execute(f"ATTACH {_literal(str(warehouse))} AS {_SOURCE_ALIAS} (READ_ONLY)")
        except (duckdb.IOException, duckdb.ResourceInUseException, duckdb.ConnectionException) as exc:
            raise AnalystRefreshError(
                f"cannot read the warehouse {warehouse} to refresh the analyst database: {exc}. "
                "Another connection holds it for writing; close it first, or pass that connection "
                "as refresh_analyst_db(warehouse, con=...)."
            ) from exc
        target_catalog = _one(target, "SELECT current_database()")
        target.execute("BEGIN")  # one commit for the whole copy, not one per table
        _copy_aggregates(target, _SOURCE_ALIAS, target_catalog, warehouse)
        target.execute("COMMIT")
        target.execute(f"DETACH {_SOURCE_ALIAS}")
    finally:
        target.close()


def _build_through(con: duckdb.DuckDBPyConnection, building: Path) -> None:
    """Attach the new file to the caller's warehouse connection and copy into it; detach to close it."""
    source_catalog = _one(con, "SELECT current_database()")
    warehouse_path = _one(con, "SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
    con.execute(f"ATTACH {_literal(str(building))} AS {_TARGET_ALIAS}")
    try:
        _copy_aggregates(con, source_catalog, _TARGET_ALIAS, Path(warehouse_path or "?"))
    finally:
        con.execute(f"DETACH {_TARGET_ALIAS}")


def _copy_aggregates(con: duckdb.DuckDBPyConnection, source: str, target: str, warehouse: Path) -> None:
    """Make `target` hold every table and view of the analyst schemas that exist in `source`.

    Views are materialised: they would otherwise point at warehouse tables that the
    analyst file does not hold. Constraints are not copied; these are read-only copies.
    `target` may be a copy of the previous build: what it holds beyond them is
    dropped, and its history tables get only the releases they lack (module docstring).
    """
    objects = _analyst_objects(con, source)
    _refuse_foreign_objects(con, target)
    kept = set(_analyst_objects(con, target))
    lacking = _releases_lacking(con, source, target, kept & set(objects))
    appendable = _appendable_histories(con, source, target, kept & set(objects), lacking)
    carried = _revisions_carried_forward(con, source, target, kept & set(objects), lacking)
    for schema, table in sorted(kept - set(objects)):
        con.execute(f"DROP TABLE {_ident(target)}.{_ident(schema)}.{_ident(table)}")
    for schema in sorted({schema for schema, _ in objects}):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(target)}.{_ident(schema)}")
    for schema, table in objects:
        into = f"{_ident(target)}.{_ident(schema)}.{_ident(table)}"
        origin = f"{_ident(source)}.{_ident(schema)}.{_ident(table)}"
        if (schema, table) == REVISIONS and carried:
            continue
        if (schema, table) in appendable:
            con.execute(
                f"""INSERT INTO {into} SELECT * FROM {origin}
                    WHERE release_id NOT IN (SELECT DISTINCT release_id FROM {into})"""
            )
        else:
            con.execute(f"CREATE OR REPLACE TABLE {into} AS SELECT * FROM {origin}")
    con.execute(
        f"""CREATE OR REPLACE TABLE {_ident(target)}.main.{BUILD_INFO_TABLE} AS
            SELECT now() AS built_at, ? AS warehouse, ?::VARCHAR[] AS tables""",
        [str(warehouse), [f"{schema}.{table}" for schema, table in objects]],
    )


def _refuse_foreign_objects(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """A previous build holds only the analyst schemas and build_info; anything else ends the copy.

    `refresh_analyst_db` then builds from nothing, so no person-level table can ride
    along in a copied file (say, if the analyst name was pointed at another file).
    """
    allowed = [str(s) for s in ANALYST_SCHEMAS]
    foreign = con.execute(
        f"""SELECT schema_name || '.' || table_name FROM duckdb_tables()
              WHERE database_name = ? AND schema_name NOT IN ({", ".join("?" for _ in allowed)})
                AND NOT (schema_name = 'main' AND table_name = ?)
            UNION ALL
            SELECT schema_name || '.' || view_name FROM duckdb_views()
              WHERE database_name = ? AND NOT internal""",
        [target, *allowed, BUILD_INFO_TABLE, target],
    ).fetchall()
    if foreign:
        raise UnusablePreviousBuild(f"the previous build holds {', '.join(name for (name,) in foreign)}")


def _analyst_objects(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    """Every table and view of the analyst schemas in `catalog` (a build's build_info is in `main`)."""
    wanted = [str(s) for s in ANALYST_SCHEMAS]
    placeholders = ", ".join("?" for _ in wanted)
    return con.execute(
        f"""SELECT schema_name, table_name FROM duckdb_tables()
              WHERE database_name = ? AND schema_name IN ({placeholders})
            UNION ALL
            SELECT schema_name, view_name FROM duckdb_views()
              WHERE database_name = ? AND NOT internal AND schema_name IN ({placeholders})
            ORDER BY 1, 2""",
        [catalog, *wanted, catalog, *wanted],
    ).fetchall()


def _appendable_histories(
    con: duckdb.DuckDBPyConnection,
    source: str,
    target: str,
    candidates: set[tuple[str, str]],
    lacking: list[str] | None,
) -> set[tuple[str, str]]:
    """The history tables `target` already holds that need only the releases they lack.

    Only when every release `target` knows is in `source` with the same release time
    (`lacking` is not None: the same lineage of releases, not a warehouse rebuilt
    since) and the table's columns are the same, in the same order.
    """
    if lacking is None:
        return set()
    return {
        relation
        for relation in _histories(candidates)
        if "release_id" in {name for name, _ in _columns(con, target, *relation)}
        and _same_columns(con, source, target, relation)
    }


def _releases_lacking(
    con: duckdb.DuckDBPyConnection, source: str, target: str, candidates: set[tuple[str, str]]
) -> list[str] | None:
    """The releases of `source` that `target` lacks, oldest first; None when `target` is not of the same
    lineage (a release it knows is not in `source` with the same release time: a warehouse rebuilt since)."""
    releases = (str(Schema.PUB), "releases")
    if releases not in candidates:
        return None
    if not {"release_id", "released_at"} <= {name for name, _ in _columns(con, target, *releases)}:
        return None
    kept, current = (f"{_ident(catalog)}.{Schema.PUB}.releases" for catalog in (target, source))
    foreign = con.execute(
        f"""SELECT count(*) FROM {kept} AS kept
            WHERE NOT EXISTS (SELECT 1 FROM {current} AS current
                              WHERE current.release_id = kept.release_id
                                AND current.released_at = kept.released_at)"""
    ).fetchone()
    if foreign is None or foreign[0]:
        return None
    lacking = con.execute(
        f"""SELECT release_id FROM {current}
            WHERE release_id NOT IN (SELECT release_id FROM {kept})
            ORDER BY CAST(substr(release_id, 2) AS INTEGER)"""
    ).fetchall()
    return [release_id for (release_id,) in lacking]


def _revisions_carried_forward(
    con: duckdb.DuckDBPyConnection,
    source: str,
    target: str,
    candidates: set[tuple[str, str]],
    lacking: list[str] | None,
) -> bool:
    """Bring the previous build's pub.revisions to the warehouse's without copying it; False if it cannot be.

    pub.revisions holds every figure ever released (2.5M rows at 1M workers), and a release rewrites
    few of them. A previous build with the same releases holds the same revisions. One a single release
    behind is brought forward by folding that release in as the warehouse did
    (`releases.fold_into_revisions`: each published table as released against the build's own copy of
    the release before). Otherwise (more releases behind, another lineage, other columns) it is copied.
    `lacking`: the releases the previous build lacks (_releases_lacking).
    """
    if lacking is None or REVISIONS not in candidates or len(lacking) > 1:
        return False
    pub = str(Schema.PUB)
    tables = sorted(table.removesuffix(HISTORY_SUFFIX) for _, table in _histories(candidates))
    relations = [REVISIONS, *((pub, table) for table in tables)]
    if any(relation not in candidates or not _same_columns(con, source, target, relation) for relation in relations):
        return False
    if not lacking:
        return True
    previous = con.execute(
        f"""SELECT release_id FROM {_ident(target)}.{pub}.releases
            ORDER BY CAST(substr(release_id, 2) AS INTEGER) DESC LIMIT 1"""
    ).fetchone()
    if previous is None:
        return False
    for table in tables:
        fold_into_revisions(
            con,
            f"{_ident(target)}.{pub}.revisions",
            table=table,
            released=f"{_ident(source)}.{pub}.{_ident(table)}",
            previous=f"{_ident(target)}.{pub}.{_ident(table)}",
            release_id=lacking[0],
            previous_release_id=previous[0],
        )
    return True


def _histories(candidates: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The `pub.<table>_history` tables among `candidates`."""
    return {(s, t) for s, t in candidates if s == str(Schema.PUB) and t.endswith(HISTORY_SUFFIX)}


def _same_columns(con: duckdb.DuckDBPyConnection, source: str, target: str, relation: tuple[str, str]) -> bool:
    """`relation` has the same columns (names, types, order) in both catalogs."""
    return _columns(con, source, *relation) == _columns(con, target, *relation)


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        """SELECT column_name, data_type FROM duckdb_columns()
           WHERE database_name = ? AND schema_name = ? AND table_name = ? ORDER BY column_index""",
        [catalog, schema, table],
    ).fetchall()


def _swap_symlink(stable: Path, version: Path) -> None:
    """Point `stable` at `version` atomically: a new symlink under a temporary name, renamed over it."""
    link = stable.with_name(f".{stable.name}.{os.getpid()}.link")
    _unlink(link)
    os.symlink(version.name, link)  # relative: the folder can move with its files
    os.replace(link, stable)
    dir_fd = os.open(stable.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename survives a crash
    finally:
        os.close(dir_fd)


def _current_version(stable: Path) -> str:
    """Name of the build `stable` points at now ('' when there is none yet or it is a plain file)."""
    return os.readlink(stable) if stable.is_symlink() else ""


def _versions(stable: Path) -> list[Path]:
    prefix, suffix = f"{stable.stem}.v", ".duckdb"
    return [p for p in stable.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(suffix)]


def _remove_old_versions(stable: Path, keep: set[str]) -> None:
    """Delete builds other than the current and the previous one.

    The previous one is kept for a reader that resolved the symlink just before the
    swap and has not opened the file yet; readers that have it open are unaffected
    by the unlink anyway.
    """
    for path in _versions(stable):
        if path.name not in keep:
            _unlink(path)
            _unlink(path.with_name(path.name + ".wal"))


def _remove_stale_builds(stable: Path) -> None:
    """Remove half-built files of a crashed refresh (refreshes are serialised by the warehouse lock)."""
    for path in stable.parent.iterdir():
        half_built = path.name.startswith(f"{stable.stem}.v") and path.name.endswith((".tmp", ".tmp.wal"))
        stray_link = path.name.startswith(f".{stable.name}.") and path.name.endswith(".link")
        if half_built or stray_link:
            _unlink(path)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
