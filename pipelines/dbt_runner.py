"""Run dbt in-process against one warehouse file.

Why in-process (`dbtRunner`) rather than a `dbt` subprocess: the CLI, the Airflow
tasks and the tests all call the same function, get a Python exception when a
node fails, and need no `dbt` executable on PATH.

Why the environment is set here:
- the profile (`dbt/profiles.yml`) reads the warehouse path from
  `FLEXEMP_WAREHOUSE`, so one project builds any warehouse (demo, tests, prod);
- `target/` (compiled SQL, manifest, partial-parse cache) and `logs/` go under
  the work folder, so running dbt never writes into the source tree;
- telemetry is off: the machine has no internet, and an analytics pipeline must
  not phone home.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipelines.settings import DBT_PROJECT_DIR, work_dir

# Node statuses that mean the run did not do its job ("warn" and "skipped" are
# reported by dbt itself; a skipped node always follows a failed one).
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


class DbtError(RuntimeError):
    """A dbt command failed: the message names the command and every failed node."""

    def __init__(self, command: Sequence[str], failures: Sequence[str], cause: BaseException | None = None):
        self.command = list(command)
        self.failures = list(failures)
        lines = [f"dbt {' '.join(self.command)} failed"]
        if cause is not None:
            lines.append(f"  {type(cause).__name__}: {cause}")
        lines += [f"  - {f}" for f in self.failures]
        super().__init__("\n".join(lines))


def dbt_paths() -> dict[str, Path]:
    """Where dbt writes its artifacts and logs: under the work folder, never in `dbt/`."""
    base = work_dir() / "dbt"
    return {"target": base / "target", "logs": base / "logs"}


def run_dbt(args: list[str], warehouse: Path) -> None:
    """Run one dbt command (e.g. `["seed"]`, `["build", "--select", "marts"]`) on `warehouse`.

    Raises DbtError when dbt reports failure, listing the failed nodes, so callers
    (CLI, DAG tasks) fail loudly instead of continuing on a half-built warehouse.
    """
    from dbt.cli.main import dbtRunner  # imported late: dbt's import is slow and most callers never need it

    paths = dbt_paths()
    env = {
        "FLEXEMP_WAREHOUSE": str(Path(warehouse).resolve()),
        "DBT_TARGET_PATH": str(paths["target"]),
        "DBT_LOG_PATH": str(paths["logs"]),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    command = ["--quiet", *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
    with _environ(env):
        try:
            result = dbtRunner().invoke(command)
        finally:
            _close_warehouse()

    if result.success:
        return
    if result.exception is not None:
        raise DbtError(args, [], result.exception) from result.exception
    raise DbtError(args, _failed_nodes(result.result) or ["(no failed node reported; see the dbt log)"])


def _close_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb kept open for the invocation, releasing the file.

    The profile keeps it open (`keep_open: true`): otherwise dbt-duckdb closes the
    database whenever no node holds a connection, so every node paid a checkpoint
    and a reopen. dbt-duckdb itself closes it only at interpreter exit, which would
    keep the file locked against the pipeline's next connection in this process.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
        DuckDBConnectionManager.close_all_connections()


def _failed_nodes(execution: object) -> list[str]:
    """`<unique_id> [<status>]: <message>` for every failed node of a dbt result."""
    failures = []
    for node_result in getattr(execution, "results", None) or []:
        status = str(getattr(node_result, "status", "")).lower()
        if status in FAILED_STATUSES:
            node = getattr(node_result, "node", None)
            name = getattr(node, "unique_id", None) or str(node)
            message = (getattr(node_result, "message", None) or "").strip()
            failures.append(f"{name} [{status}]: {message}")
    return failures


@contextmanager
def _environ(updates: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of one dbt call, then restore them.

    dbt reads its settings (and the profile's `env_var()`) from the process
    environment; restoring it keeps one call's warehouse from leaking into the next.
    """
    saved = {key: os.environ.get(key) for key in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
