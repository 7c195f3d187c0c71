"""The GX-over-DuckDB patches: needed today, and working.

If a GX or duckdb-engine upgrade fixes the upstream bugs (GX issues 10738, 11579;
PR 12084), `test_unpatched_gx_still_fails_on_duckdb` fails: drop the patch it names
on purpose. If an upgrade breaks the patches, the in-process tests fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.checks import gx_duckdb

# One script, run in a fresh interpreter so that this process's patches do not leak in.
# It validates the same tiny table three times: with GX as shipped, with only the
# execute_query patch, and with both patches; printing one JSON line per stage.
PROBE = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TQDM_DISABLE"] = "1"
    import duckdb, duckdb_engine
    import great_expectations as gx
    from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine

    con = duckdb.connect(sys.argv[1])

    def validate(expectation):
        ctx = gx.get_context(mode="ephemeral")
        ds = ctx.data_sources.add_sql(
            name="w", connection_string="duckdb:///:memory:", create_temp_table=False,
            kwargs={"creator": lambda: duckdb_engine.ConnectionWrapper(con.cursor())})
        try:
            batch = ds.add_table_asset(name="t", table_name="t").add_batch_definition_whole_table("b").get_batch()
            r = batch.validate(expectation, result_format="BASIC")
        except Exception as exc:  # e.g. the batch itself cannot be built
            return {"success": False, "error": repr(exc)[:300]}
        finally:
            ds.get_execution_engine().close()
            ds.get_engine().dispose()
        # exception_info is either flat or keyed by metric id, depending on where GX failed
        info = r.exception_info or {}
        parts = [info] + [v for v in info.values() if isinstance(v, dict)]
        error = " | ".join(str(p.get("exception_message")) for p in parts if p.get("exception_message"))
        return {"success": bool(r.success), "unexpected_count": (r.result or {}).get("unexpected_count"),
                "observed": (r.result or {}).get("observed_value"), "error": error[:300]}

    row_count = gx.expectations.ExpectTableRowCountToEqual(value=3)
    regex = gx.expectations.ExpectColumnValuesToMatchRegex(column="code", regex="b")
    print(json.dumps({"stage": "unpatched", "row_count": validate(row_count)}))

    from pipelines.checks import gx_duckdb
    SqlAlchemyExecutionEngine.execute_query = gx_duckdb._execute_query
    print(json.dumps({"stage": "execute_query_only", "row_count": validate(row_count), "regex": validate(regex)}))

    gx_duckdb.install()
    print(json.dumps({"stage": "patched", "row_count": validate(row_count), "regex": validate(regex)}))
    """
)


@pytest.fixture
def tiny_db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('abc'), ('xbx'), ('zzz')) AS v(code)")
    con.close()
    yield path


def test_unpatched_gx_still_fails_on_duckdb(tiny_db: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tiny_db)], capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parents[2])
    stages: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
            stages[data.pop("stage")] = data
    assert set(stages) == {"unpatched", "execute_query_only", "patched"}, proc.stdout + proc.stderr[-3000:]

    # 1. GX as shipped loses every result (rollback on connection close): remove the
    #    execute_query patch if this starts to pass.
    assert stages["unpatched"]["row_count"]["success"] is False, stages
    assert stages["unpatched"]["row_count"]["observed"] is None
    # 2. No regex support for DuckDB in GX: remove the regex patch if this starts to pass.
    assert stages["execute_query_only"]["row_count"] == {"success": True, "unexpected_count": None,
                                                         "observed": 3, "error": ""}, stages
    assert stages["execute_query_only"]["regex"]["success"] is False
    assert "Regex is not supported for dialect duckdb" in stages["execute_query_only"]["regex"]["error"]
    # 3. With both patches, search semantics (not DuckDB's full-match `~`): 'zzz' has no 'b'.
    assert stages["patched"]["regex"] == {"success": False, "unexpected_count": 1, "observed": None,
                                          "error": ""}, stages


def test_install_is_idempotent_and_complete() -> None:
    gx_duckdb.install()
    gx_duckdb.install()
    assert gx_duckdb.is_installed()
    from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine

    assert SqlAlchemyExecutionEngine.execute_query is gx_duckdb._execute_query


def test_regex_expression_is_a_search_on_duckdb_and_untouched_elsewhere() -> None:
    import sqlalchemy as sa
    from duckdb_engine import Dialect as DuckDBDialect
    from sqlalchemy.dialects import postgresql

    gx_duckdb.install()
    col = sa.column("code")
    expr = gx_duckdb._regex_expression(col, "b", DuckDBDialect())
    assert expr is not None
    assert "regexp_matches(code" in str(expr.compile(dialect=DuckDBDialect()))
    negated = gx_duckdb._regex_expression(col, "b", DuckDBDialect(), positive=False)
    assert str(negated.compile(dialect=DuckDBDialect())).startswith("NOT regexp_matches")  # type: ignore[union-attr]
    pg = gx_duckdb._regex_expression(col, "b", postgresql)  # GX's own branch, as before
    assert pg is not None and "~" in str(pg.compile(dialect=postgresql.dialect()))
