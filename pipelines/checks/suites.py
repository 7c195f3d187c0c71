"""Run Great Expectations suites (expectations/*.json) inside DuckDB, on the caller's connection.

Why this shape:

- The suites are data (GX 1.x suite JSON, one file per suite) so that raw and mart
  checks share one runner and reviewers read the rules without reading Python.
- GX runs *in* DuckDB through its SQL datasource: nothing is pulled into pandas, and
  the pipeline's own connection is reused (``con.cursor()`` behind duckdb-engine), so
  the warehouse file is not opened twice (DuckDB refuses a second configuration of an
  open file). A cursor is a separate connection to the same database: the checks see
  what the caller has *committed*, so commit before checking.
- Each expectation carries ``meta.severity``: ``critical`` fails the task
  (:func:`raise_on_critical`), ``warning`` is only recorded (:func:`record_results`).
- Two passes. First every expectation with result format BASIC and no sample rows:
  GX bundles the unexpected counts of a table into one aggregate query, where
  SUMMARY adds per expectation a sample query, a value-count query and an index
  query, each a full scan when nothing is unexpected (4x the time at national
  scale). Then only the expectations that failed run again with SUMMARY: at most
  20 sample rows reach Python (COMPLETE would pull every unexpected row). The files holding the
  unexpected rows (``file_path``) come from a DuckDB query of ours over the target
  for the common expectation types, else from GX's sample, so the failure message
  can name them.
- Uniqueness of a compound key over a raw load (millions of rows) is an
  ``unexpected_rows_expectation``: a query of ours that groups 64-bit hashes of
  the key and compares exactly only the rows whose hash repeats. Its ``meta.column_list``
  names the key for the audit table. GX's ``expect_compound_columns_to_be_unique``
  joins every row, with all its columns, to a grouped copy (4x the time at 1M).
- A suite may list ``meta.pii_columns``: unexpected *values* of expectations on those
  columns are dropped from everything we keep (JSON, Data Docs, audit table, error
  messages); a raw national ID must be stored nowhere, even when a check catches one.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.checks import gx_duckdb
from pipelines.contract import Schema
from pipelines.settings import EXPECTATIONS_DIR

gx_duckdb.install()

import duckdb_engine  # noqa: E402
import great_expectations as gx  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationSuiteValidationResultSchema,
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "warning")
MAX_FILES = 5  # files named per failing expectation
PARTIAL_UNEXPECTED_COUNT = 20
COUNTS_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}  # first pass: counts, no samples
UNEXPECTED_ROWS = "unexpected_rows_expectation"  # a SQL query returning the unexpected rows ({batch}: the target)
DATA_DOCS_SITE = "flexemp"
MASKED = "<masked: personal-data column>"
CHECK_RESULTS_TABLE = f"{Schema.AUDIT}.check_results"
CHECK_RESULTS_DDL = f"""CREATE TABLE IF NOT EXISTS {CHECK_RESULTS_TABLE} (
    run_id VARCHAR NOT NULL, stage VARCHAR NOT NULL, suite VARCHAR NOT NULL, target VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL, column_name VARCHAR, severity VARCHAR NOT NULL,
    success BOOLEAN NOT NULL, unexpected_count BIGINT, detail VARCHAR,
    checked_at TIMESTAMPTZ NOT NULL)"""

_QUERY_START = re.compile(r"^\s*(\(|select\b|with\b|from\b|values\b|table\b)", re.IGNORECASE)


class CheckFailed(Exception):
    """A critical expectation failed; the message names each one, its column and files."""

    def __init__(self, outcome: SuiteOutcome) -> None:
        self.outcome = outcome
        super().__init__(_failure_message(outcome))


@dataclass
class ExpectationOutcome:
    """One expectation's result, reduced to what the pipeline logs, records and raises on."""

    expectation: str
    column: str | None
    success: bool
    severity: str
    unexpected_count: int | None
    detail: str
    files: list[str] = field(default_factory=list)


@dataclass
class SuiteOutcome:
    suite: str
    target: str
    success: bool  # every expectation passed, warnings included
    critical_failures: list[ExpectationOutcome]
    outcomes: list[ExpectationOutcome]
    result_path: Path  # the full GX validation result (JSON)
    run_id: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Suites as files


def suite_path(suite: str, expectations_dir: Path = EXPECTATIONS_DIR) -> Path:
    return expectations_dir / f"{suite}.json"


def available_suites(expectations_dir: Path = EXPECTATIONS_DIR) -> list[str]:
    return sorted(p.stem for p in expectations_dir.glob("*.json"))


def load_suite(suite: str, expectations_dir: Path = EXPECTATIONS_DIR) -> dict[str, Any]:
    """Read and sanity-check one suite file; a malformed suite fails loudly, before any data is read."""
    path = suite_path(suite, expectations_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no expectation suite {suite!r}: {path} does not exist")
    spec = json.loads(path.read_text(encoding="utf-8"))
    if spec.get("name") != suite:
        raise ValueError(f"{path}: 'name' is {spec.get('name')!r}, expected the file name {suite!r}")
    for i, exp in enumerate(spec.get("expectations") or []):
        if not isinstance(exp.get("type"), str) or not isinstance(exp.get("kwargs"), dict):
            raise ValueError(f"{path}: expectation #{i} needs 'type' and 'kwargs'")
        severity = (exp.get("meta") or {}).get("severity")
        if severity not in SEVERITIES:
            raise ValueError(f"{path}: expectation #{i} ({exp['type']}) has meta.severity {severity!r}; "
                             f"use one of {SEVERITIES}")
    if not spec.get("expectations"):
        raise ValueError(f"{path}: no expectations")
    return spec


# ---------------------------------------------------------------------------------------------
# Running


def run_suite(
    con: duckdb.DuckDBPyConnection,
    suite: str,
    target_sql: str,
    target_label: str,
    artifacts_dir: Path,
    run_id: str,
    index_columns: Sequence[str] = ("file_path", "source_row"),
    *,
    expectations_dir: Path = EXPECTATIONS_DIR,
) -> SuiteOutcome:
    """Validate `target_sql` (a query, or a table name) against `suite`, inside DuckDB.

    Writes the full GX result to ``<artifacts_dir>/checks/<run_id>/<suite>.json`` and
    returns the reduced outcome. Raises nothing on failing expectations: call
    :func:`raise_on_critical` (after :func:`record_results`, so failures are recorded).
    """
    started = time.monotonic()
    gx_duckdb.install()
    spec = load_suite(suite, expectations_dir)
    _require_no_open_transaction(con)
    query = _as_query(target_sql)
    columns = _target_columns(con, query)
    index_cols = [c for c in index_columns if c in columns]
    pii_columns = set((spec.get("meta") or {}).get("pii_columns") or [])

    detail_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": PARTIAL_UNEXPECTED_COUNT,
    }
    if index_cols:
        detail_format["unexpected_index_column_names"] = index_cols

    context = _ephemeral_context()
    datasource = context.data_sources.add_sql(
        name="warehouse",
        connection_string="duckdb:///:memory:",  # ignored: `creator` hands GX the caller's database
        create_temp_table=False,  # True would copy the target into a temp table first
        kwargs={"creator": lambda: duckdb_engine.ConnectionWrapper(con.cursor())},
    )
    try:
        asset = datasource.add_query_asset(name=_asset_name(suite), query=query)
        batch = asset.add_batch_definition_whole_table("whole").get_batch()
        gx_suite = gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"],
                                       meta=dict(spec.get("meta") or {}))
        if len(gx_suite.expectations) != len(spec["expectations"]):
            # GX logs and *drops* an expectation whose config it cannot parse: never check less silently.
            raise ValueError(f"suite {suite}: GX accepted {len(gx_suite.expectations)} of "
                             f"{len(spec['expectations'])} expectations (see the GX error logged above)")
        result = batch.validate(gx_suite, result_format=COUNTS_FORMAT)
        _add_details(batch, result, spec, detail_format)
        outcomes = [
            _reduce(con, query, r, pii_columns, "file_path" in index_cols) for r in result.results
        ]
    finally:
        # Both are needed before the database is free of GX's connections (gx-duckdb.md).
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()

    result_dict = _scrub(result.to_json_dict(), pii_columns)
    result_dict["meta"].update({"run_id": run_id, "target": target_label})
    result_path = artifacts_dir / "checks" / run_id / f"{suite}.json"
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result_dict, indent=1, default=str, ensure_ascii=False),
                           encoding="utf-8")

    outcome = SuiteOutcome(
        suite=suite,
        target=target_label,
        success=all(o.success for o in outcomes),
        critical_failures=[o for o in outcomes if not o.success and o.severity == "critical"],
        outcomes=outcomes,
        result_path=result_path,
        run_id=run_id,
        seconds=time.monotonic() - started,
    )
    log.info("suite %s on %s: %d expectations, %d critical failures, %d warnings failed (%.1fs)",
             suite, target_label, len(outcomes), len(outcome.critical_failures),
             sum(1 for o in outcomes if not o.success and o.severity == "warning"), outcome.seconds)
    return outcome


def _add_details(batch: Any, result: ExpectationSuiteValidationResult, spec: dict[str, Any],
                 detail_format: dict[str, Any]) -> None:
    """Validate the failed expectations again with `detail_format` and put those results in `result`."""
    failed = [i for i, r in enumerate(result.results) if not r.success]
    if not failed:
        return
    configs = [result.results[i].expectation_config for i in failed]
    assert all(c is not None for c in configs)
    suite = gx.ExpectationSuite(name=f"{spec['name']}_failed", meta=dict(spec.get("meta") or {}),
                                expectations=[{"type": c.type, "kwargs": c.kwargs, "meta": c.meta} for c in configs])
    detailed = batch.validate(suite, result_format=detail_format).results
    for i, config, again in zip(failed, configs, detailed, strict=True):
        again_config = again.expectation_config
        assert again_config is not None and (again_config.type, again_config.kwargs) == (config.type, config.kwargs)
        result.results[i] = again


def raise_on_critical(outcome: SuiteOutcome) -> None:
    """Fail the task when any critical expectation failed; warnings never raise."""
    if outcome.critical_failures:
        raise CheckFailed(outcome)


def record_results(con: duckdb.DuckDBPyConnection, outcome: SuiteOutcome, stage: str) -> None:
    """Write one audit.check_results row per expectation.

    Replaces earlier rows of the same run, stage, suite and target in the same
    transaction, so a run that is killed and run again records each check once.
    Needs the caller to have no open transaction on `con`.
    """
    checked_at = datetime.now(UTC)
    rows = [
        (outcome.run_id, stage, outcome.suite, outcome.target, o.expectation, o.column, o.severity,
         o.success, o.unexpected_count, o.detail, checked_at)
        for o in outcome.outcomes
    ]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {Schema.AUDIT}")
    con.execute(CHECK_RESULTS_DDL)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"DELETE FROM {CHECK_RESULTS_TABLE} WHERE run_id = ? AND stage = ? AND suite = ? AND target = ?",
            [outcome.run_id, stage, outcome.suite, outcome.target],
        )
        if rows:
            con.executemany(f"INSERT INTO {CHECK_RESULTS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# ---------------------------------------------------------------------------------------------
# Data Docs


def build_data_docs(artifacts_dir: Path, run_ids: Iterable[str] | None = None) -> Path:
    """Render the kept validation results as GX Data Docs under ``<artifacts_dir>/data_docs/``.

    Separate from :func:`run_suite` so a run builds the site once, after all its
    suites, not once per suite. Renders the results of `run_ids` (default: every run
    found under ``checks/``); the index lists every run found. Offline-safe: the pages
    link CSS/JS from CDNs and are readable, unstyled, without network. Returns the
    index page.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    site_dir = artifacts_dir / "data_docs"
    context = _ephemeral_context(site_dir)
    wanted = None if run_ids is None else set(run_ids)
    schema = ExpectationSuiteValidationResultSchema()
    render: list[ValidationResultIdentifier] = []
    for path in sorted((artifacts_dir / "checks").glob("*/*.json")):
        run_id = path.parent.name
        data = json.loads(path.read_text(encoding="utf-8"))
        result: ExpectationSuiteValidationResult = schema.load(data)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=path.stem),
            run_id=RunIdentifier(run_name=run_id),
            batch_identifier=_asset_name(str(data.get("meta", {}).get("target") or path.stem)),
        )
        context.validation_results_store.set(key, result)
        if wanted is None or run_id in wanted:
            render.append(key)
    if render:
        context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=render)
    else:
        context.build_data_docs(site_names=[DATA_DOCS_SITE])
    return site_dir / "index.html"


# ---------------------------------------------------------------------------------------------
# Helpers


def _ephemeral_context(data_docs_dir: Path | None = None) -> Any:
    """An in-memory GX context: ~10 ms, no files, nothing left behind between runs.

    Built from an explicit config so that GX neither sets up its default temporary
    docs site nor shows progress bars (GX passes tqdm an explicit `disable`, so
    TQDM_DISABLE alone does not silence them).
    """
    sites: dict[str, Any] = {}
    if data_docs_dir is not None:
        sites[DATA_DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(data_docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _require_no_open_transaction(con: duckdb.DuckDBPyConnection) -> None:
    """GX reads through cursors (other connections): uncommitted writes of `con` would be invisible."""
    try:
        con.execute("BEGIN TRANSACTION")
    except duckdb.TransactionException:
        raise RuntimeError("run_suite needs the connection's writes committed first: GX reads through "
                           "separate cursors and would not see the open transaction's rows") from None
    con.execute("ROLLBACK")


def _as_query(target_sql: str) -> str:
    """A bare table name becomes ``SELECT * FROM <name>``; a query is kept as it is, but one
    that opens with WITH is wrapped, since GX query assets must start with SELECT."""
    target = target_sql.strip().rstrip(";")
    if re.match(r"(?is)^with\s", target):
        return f"SELECT * FROM ({target}) AS target"
    if _QUERY_START.match(target):
        return target
    return f"SELECT * FROM {target}"


def _target_columns(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    """Column names of the target, from DuckDB's binder (no rows read)."""
    return [row[0] for row in con.execute(f"DESCRIBE {query}").fetchall()]


def _asset_name(label: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", label)[:100] or "target"


def _column_of(kwargs: dict[str, Any]) -> str | None:
    """The column(s) an expectation is about, as one string for logs and the audit table."""
    if kwargs.get("column"):
        return str(kwargs["column"])
    if kwargs.get("column_A") and kwargs.get("column_B"):
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if kwargs.get("column_list"):
        return ",".join(str(c) for c in kwargs["column_list"])
    return None


def _domain_columns(kwargs: dict[str, Any]) -> set[str]:
    column = _column_of(kwargs)
    return set(column.split(",")) if column else set()


def _reduce(
    con: duckdb.DuckDBPyConnection,
    query: str,
    r: ExpectationValidationResult,
    pii_columns: set[str],
    have_file_path: bool,
) -> ExpectationOutcome:
    config = r.expectation_config
    assert config is not None
    kwargs = dict(config.kwargs)
    severity = str((config.meta or {}).get("severity", "critical"))
    res: dict[str, Any] = dict(r.result or {})
    if config.type == UNEXPECTED_ROWS:
        # A query of ours: its meta names the columns it is about; GX counts its rows as observed_value.
        kwargs["column_list"] = list((config.meta or {}).get("column_list") or [])
        res.setdefault("unexpected_count", res.get("observed_value"))
    masked = bool(_domain_columns(kwargs) & pii_columns)
    unexpected_count = res.get("unexpected_count")
    files: list[str] = []
    if not r.success and have_file_path:
        files = _unexpected_files(con, query, config.type, kwargs, res)
    detail = _detail(r, res, masked)
    return ExpectationOutcome(
        expectation=config.type,
        column=_column_of(kwargs),
        success=bool(r.success),
        severity=severity,
        unexpected_count=None if unexpected_count is None else int(unexpected_count),
        detail=detail,
        files=files,
    )


def _unexpected_files(
    con: duckdb.DuckDBPyConnection, query: str, expectation: str, kwargs: dict[str, Any], res: dict[str, Any]
) -> list[str]:
    """Distinct files (first few, sorted) of the unexpected rows.

    GX's own ``unexpected_index_query`` cannot be used: for a query asset it renders
    ``FROM SELECT ...`` without parentheses, and for compound uniqueness it leaves a
    ``$1`` parameter unbound (GX 1.24). So the simple expectation types get a DuckDB
    query of ours over the whole target; other types fall back to GX's sample of
    unexpected rows (at most 20 rows, so possibly not every file).
    """
    rows_sql = _unexpected_rows_sql(query, expectation, kwargs)
    if rows_sql is not None:
        sql = f"SELECT DISTINCT file_path FROM ({rows_sql}) AS u ORDER BY 1 LIMIT {MAX_FILES}"
        return [row[0] for row in con.execute(sql).fetchall() if row[0] is not None]
    sample = [row for row in res.get("partial_unexpected_index_list") or [] if isinstance(row, dict)]
    sample += [row for row in res.get("partial_unexpected_list") or [] if isinstance(row, dict)]
    return sorted({str(row["file_path"]) for row in sample if row.get("file_path")})[:MAX_FILES]


def _unexpected_rows_sql(query: str, expectation: str, kwargs: dict[str, Any]) -> str | None:
    """SQL selecting the unexpected rows of `query` for the common expectation types, else None.

    Mirrors GX's SQL conditions (nulls are not unexpected except for not_null; rows with
    a null in a column pair are skipped), so the files named match the rows counted.
    """
    target = f"({query}) AS t"
    if expectation == UNEXPECTED_ROWS:
        rows = kwargs["unexpected_rows_query"].replace("{batch}", f"({query}) AS batch")
        return f"SELECT file_path FROM ({rows}) AS u"
    if expectation == "expect_compound_columns_to_be_unique":
        cols = ", ".join(_ident(c) for c in kwargs["column_list"])
        return f"SELECT file_path FROM {target} QUALIFY count(*) OVER (PARTITION BY {cols}) > 1"
    condition = _unexpected_condition(expectation, kwargs)
    return None if condition is None else f"SELECT file_path FROM {target} WHERE {condition}"


def _unexpected_condition(expectation: str, kwargs: dict[str, Any]) -> str | None:
    if "column" in kwargs:
        col = _ident(kwargs["column"])
        if expectation == "expect_column_values_to_not_be_null":
            return f"{col} IS NULL"
        if expectation == "expect_column_values_to_be_in_set":
            values = ", ".join(_literal(v) for v in kwargs["value_set"])
            return f"{col} IS NOT NULL AND {col} NOT IN ({values})"
        if expectation == "expect_column_values_to_match_regex":
            return f"{col} IS NOT NULL AND NOT regexp_matches({col}, {_literal(kwargs['regex'])})"
        if expectation == "expect_column_values_to_not_match_regex":
            return f"{col} IS NOT NULL AND regexp_matches({col}, {_literal(kwargs['regex'])})"
        if expectation == "expect_column_values_to_be_between":
            bounds = []
            if kwargs.get("min_value") is not None:
                op = ">" if kwargs.get("strict_min") else ">="
                bounds.append(f"{col} {op} {_literal(kwargs['min_value'])}")
            if kwargs.get("max_value") is not None:
                op = "<" if kwargs.get("strict_max") else "<="
                bounds.append(f"{col} {op} {_literal(kwargs['max_value'])}")
            return f"{col} IS NOT NULL AND NOT ({' AND '.join(bounds) or 'true'})"
    if expectation == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = _ident(kwargs["column_A"]), _ident(kwargs["column_B"])
        op = ">=" if kwargs.get("or_equal") else ">"
        return f"{a} IS NOT NULL AND {b} IS NOT NULL AND NOT ({a} {op} {b})"
    return None


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _format_value(value: Any) -> str:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_format_value(v) for v in value) + ")"
    return repr(value) if isinstance(value, str) else str(value)


def _detail(r: ExpectationValidationResult, res: dict[str, Any], masked: bool) -> str:
    """One readable line: the error, or counts and (unless personal data) sample values."""
    errors = _exception_messages(r.exception_info or {})
    if errors:
        return "error: " + "; ".join(errors)
    if "unexpected_count" in res and res["unexpected_count"] is not None:
        count, total = int(res["unexpected_count"]), int(res.get("element_count") or 0)
        pct = res.get("unexpected_percent")
        text = f"{count} of {total} rows unexpected" if total else f"{count} rows unexpected"
        if pct is not None:
            text += f" ({pct:.4g}% of non-null)"
        if count and not masked:
            counts = res.get("partial_unexpected_counts") or []
            values = [c.get("value") for c in counts if isinstance(c, dict)]
            if values:
                text += f"; e.g. {', '.join(_format_value(v) for v in values[:5])}"
        elif count and masked:
            text += "; values not shown (personal-data column)"
        return text
    if "observed_value" in res:
        return "observed " + (MASKED if masked else _format_value(res["observed_value"]))
    return "passed" if r.success else "failed"


def _exception_messages(info: dict[str, Any]) -> list[str]:
    """First lines of GX's exception messages; `info` is flat, or keyed by metric id when a metric failed."""
    parts = [info, *(v for v in info.values() if isinstance(v, dict))]
    messages = [str(p["exception_message"]).strip() for p in parts if p.get("exception_message")]
    return sorted({m.splitlines()[0] for m in messages if m})


def _scrub(result: dict[str, Any], pii_columns: set[str]) -> dict[str, Any]:
    """Mask unexpected values of personal-data columns in a GX result dict before it is kept.

    Keeps the shapes (lists of the same length, counts) so Data Docs still render.
    """
    if not pii_columns:
        return result
    for r in result.get("results", []):
        kwargs = (r.get("expectation_config") or {}).get("kwargs") or {}
        if not _domain_columns(kwargs) & pii_columns:
            continue
        res = r.get("result") or {}
        for key in ("partial_unexpected_list", "unexpected_list"):
            if isinstance(res.get(key), list):
                res[key] = [MASKED] * len(res[key])
        if isinstance(res.get("partial_unexpected_counts"), list):
            counts = [c for c in res["partial_unexpected_counts"] if isinstance(c, dict)]
            total = sum(int(c.get("count") or 0) for c in counts)
            res["partial_unexpected_counts"] = [{"value": MASKED, "count": total}] if total else []
        for key in ("observed_value", "details", "unexpected_rows"):
            if key in res:
                res[key] = MASKED
        for key in ("partial_unexpected_index_list", "unexpected_index_list"):
            if isinstance(res.get(key), list):
                res[key] = [_mask_row(row, pii_columns) for row in res[key]]
    return result


def _mask_row(row: Any, pii_columns: set[str]) -> Any:
    if not isinstance(row, dict):
        return row
    return {k: (MASKED if k in pii_columns else v) for k, v in row.items()}


def _failure_message(outcome: SuiteOutcome) -> str:
    lines = [f"{len(outcome.critical_failures)} critical check(s) failed in suite {outcome.suite} "
             f"on {outcome.target} (full result: {outcome.result_path}):"]
    for o in outcome.critical_failures:
        where = f"; files: {', '.join(o.files)}" if o.files else ""
        col = f" [{o.column}]" if o.column else ""
        lines.append(f"  - {o.expectation}{col}: {o.detail}{where}")
    return "\n".join(lines)
