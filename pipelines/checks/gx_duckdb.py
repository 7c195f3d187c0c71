"""Make Great Expectations' SQL execution engine work over DuckDB (duckdb-engine).

Upstream cause (GX 1.24, duckdb-engine 0.17; GX issues 10738 and 11579, a native
DuckDB engine is proposed in GX PR 12084):

1. ``SqlAlchemyExecutionEngine.execute_query`` runs the query inside
   ``with self.get_connection()`` and returns the result *after* the connection has
   closed; metrics then call ``.fetchall()``. Closing the SQLAlchemy connection rolls
   its transaction back, and duckdb-engine's cursor is the DuckDB connection itself,
   so the rollback discards the unread result: every metric fails (``IndexError`` at
   ``res[0]`` or "No open result set"). Fix: for the duckdb dialect, buffer the rows
   (``result.freeze()()``) while the connection is still open. Each query then reads
   a fresh snapshot. Pool classes, AUTOCOMMIT, ``creator`` and temp-table settings do
   not help (see ../shared/notes/gx-duckdb.md).
2. GX has no DuckDB branch in ``get_dialect_regex_expression`` (``NotImplementedError:
   Regex is not supported for dialect duckdb``). DuckDB's ``~`` is a *full* match,
   GX expects *search* semantics, so map regexes to ``regexp_matches(column, pattern)``
   (RE2 syntax: no lookarounds, no backreferences). The metric modules imported the
   function by name, so they are patched too.

``install()`` applies both, idempotently; tests/checks/test_gx_duckdb.py fails when a
GX upgrade makes them unnecessary or breaks them, so they can be dropped on purpose.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# Keep GX quiet in pipeline logs. GX 1.24 sends no usage statistics; the flag is a
# precaution. TQDM_DISABLE covers tqdm bars GX starts without an explicit `disable`;
# the "Calculating Metrics" bar passes one, so suites.py also turns bars off in the
# context's config. Set before great_expectations is imported anywhere in the process.
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import sqlalchemy as sa
from great_expectations.execution_engine.sqlalchemy_execution_engine import (
    SqlAlchemyExecutionEngine,
)
from great_expectations.expectations.metrics import util as metrics_util

DUCKDB_DIALECT = "duckdb"

# Modules that did `from ...metrics.util import get_dialect_regex_expression`.
_REGEX_MODULES = (
    "great_expectations.expectations.metrics.util",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex_list",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex_list",
    "great_expectations.expectations.metrics.column_aggregate_metrics.column_values_match_regex_values",
    "great_expectations.expectations.metrics.column_aggregate_metrics.column_values_not_match_regex_values",
)

_PATCHED = "_flexemp_duckdb_patch"  # marker attribute on our replacement functions
_original_execute_query = SqlAlchemyExecutionEngine.execute_query
_original_regex = metrics_util.get_dialect_regex_expression


def _execute_query(self: SqlAlchemyExecutionEngine, query: Any) -> Any:
    """GX's execute_query, but on DuckDB the rows are buffered before the connection closes."""
    if self.dialect_name != DUCKDB_DIALECT:
        return _original_execute_query(self, query)
    with self.get_connection() as connection:
        result = self._execute_query_with_recovery(connection, query)
        return result.freeze()()


def _regex_expression(
    column: Any, regex: str, dialect: Any, positive: bool = True
) -> sa.ColumnElement[bool] | None:
    """GX's regex dispatch plus DuckDB, with search semantics like GX's other dialects.

    For dialects without a GX module (DuckDB), GX passes the engine's dialect instance.
    """
    if getattr(dialect, "name", None) == DUCKDB_DIALECT:
        matches = sa.func.regexp_matches(column, sa.literal(regex))
        return matches if positive else sa.not_(matches)
    return _original_regex(column, regex, dialect, positive)


setattr(_execute_query, _PATCHED, True)
setattr(_regex_expression, _PATCHED, True)


def is_installed() -> bool:
    """True when both patches are in place (used by tests and by install itself)."""
    if not getattr(SqlAlchemyExecutionEngine.execute_query, _PATCHED, False):
        return False
    return all(
        getattr(getattr(importlib.import_module(m), "get_dialect_regex_expression", None), _PATCHED, False)
        for m in _REGEX_MODULES
    )


def install() -> None:
    """Apply the DuckDB patches to GX; calling it again is a no-op."""
    SqlAlchemyExecutionEngine.execute_query = _execute_query  # type: ignore[method-assign]
    for name in _REGEX_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "get_dialect_regex_expression"):
            module.get_dialect_regex_expression = _regex_expression
