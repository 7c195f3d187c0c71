"""What one `dbt build` of the pipeline does: rebuild from scratch, build every node, every node but
unchanged reference data, or nothing.

An incremental model keeps the rows earlier builds computed and recomputes only
what new loads changed, so the rows it keeps are as the project of those builds
computed them. When the warehouse's last successful build ran another project (a
new release: a changed model, macro or seed, e.g. a title keyword or a minimum
wage), an incremental build would mix both projects' rows; so the build is then
a full refresh, as the first build on a warehouse and one from before the
fingerprint are (and one after a failed build of another project, which may
have rebuilt some tables). A failed build of this project after its successful
one is not: the watermark makes the next build take up its changes.

The reference nodes (tag `reference`: the seeds in `ref` and the dimensions built
from nothing else) change only when the dbt project changes; deliveries never
touch them. Rebuilding and retesting them in every daily build costs ~80 of the
project's ~225 nodes, several seconds whatever the data size (dbt's cost per node
is mostly its own Python), for tables identical to the ones they replace.

So an incremental build leaves them out when the newest build on the warehouse ran
byte for byte this project (same files, same dbt versions) and succeeded: every
build records its project's fingerprint in `audit.runs.dbt_project_fingerprint`
before it starts, so a build that failed half-way through new reference data is
never taken for a complete one. After a failed build every node is built again.
The tests that tie data to reference tables (relationships) still run: with
`--indirect-selection cautious` dbt leaves out only the tests whose parents are
all left out.

And a build with nothing to do is not run at all: when, on top of that, no load
reached the ledger since that build's watermark (`loaded_through`), every model
would compute the tables it already holds (no model reads the clock: their output
is a function of the loaded data and the project) and every test would check them
again. dbt's cost per node made such a build ~50 s at national scale, most of a run
that brings nothing new (a scheduled run on a day without deliveries, a re-run).
"""

from __future__ import annotations

import hashlib
from enum import Enum
from importlib import metadata
from pathlib import Path

import duckdb

from pipelines.contract import Schema
from pipelines.settings import DBT_PROJECT_DIR

REFERENCE_SELECTOR = "tag:reference"
NOT_ON_DATA = "test_type:unit"  # unit tests run in the test suite, not on the warehouse's data
_NOT_PROJECT = {"target", "logs", "dbt_packages", "__pycache__"}  # dbt's outputs, if a bare `dbt` wrote them here
_DBT_DISTRIBUTIONS = ("dbt-core", "dbt-duckdb")


def project_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """sha256 over the dbt versions and every file of the project (path and content)."""
    digest = hashlib.sha256()
    for name in _DBT_DISTRIBUTIONS:
        digest.update(f"{name}=={metadata.version(name)}\n".encode())
    files = (
        path
        for path in project_dir.rglob("*")
        if path.is_file() and not _NOT_PROJECT.intersection(path.relative_to(project_dir).parts)
    )
    for path in sorted(files):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(project_dir).as_posix()}\0{content}\n".encode())
    return digest.hexdigest()


class LastBuild(Enum):
    """What the warehouse's builds so far mean for the next one of this project."""

    SUCCEEDED = "the newest build ran this project and succeeded"
    FAILED = "the newest build ran this project and failed, after a successful one of it"
    OTHER_PROJECT = "the newest build, or the last successful one, ran another project (or there is none)"


def last_build(con: duckdb.DuckDBPyConnection, fingerprint: str) -> LastBuild:
    """Where the project of `fingerprint` stands on the warehouse (`audit.runs`).

    A failed build of another project may have rebuilt some tables from scratch
    before it stopped, so it counts as another project's build.
    """
    newest, succeeded, last_success = con.execute(
        f"""WITH builds AS (SELECT started_at, dbt_project_fingerprint AS fingerprint,
                                   loaded_through IS NOT NULL AS succeeded
                            FROM {Schema.AUDIT}.runs WHERE dbt_project_fingerprint IS NOT NULL)
            SELECT (SELECT fingerprint FROM builds ORDER BY started_at DESC LIMIT 1),
                   (SELECT succeeded FROM builds ORDER BY started_at DESC LIMIT 1),
                   (SELECT fingerprint FROM builds WHERE succeeded ORDER BY started_at DESC LIMIT 1)"""
    ).fetchone()
    if newest != fingerprint or last_success != fingerprint:
        return LastBuild.OTHER_PROJECT
    return LastBuild.SUCCEEDED if succeeded else LastBuild.FAILED


def build_args(full_refresh: bool, last: LastBuild, new_loads: bool) -> list[str] | None:
    """The `dbt build` arguments, or None when there is nothing to build.

    `last`: what the warehouse's builds so far mean for this project's;
    `new_loads`: a load reached the ledger after the last build's watermark.
    """
    if full_refresh or last is LastBuild.OTHER_PROJECT:
        return ["build", "--exclude", NOT_ON_DATA, "--full-refresh"]
    if last is LastBuild.SUCCEEDED and not new_loads:
        return None
    if last is LastBuild.SUCCEEDED:
        return ["build", "--exclude", f"{NOT_ON_DATA} {REFERENCE_SELECTOR}", "--indirect-selection", "cautious"]
    return ["build", "--exclude", NOT_ON_DATA]
