"""The codebook that travels with every export, read from the dbt docs.

One definition, one place: the mart columns are documented in
dbt/models/marts/*.yml and the publication columns (conf_status, vintage, ...)
in publication_columns.yml beside this module. This module only reads them and
adds what the warehouse knows (column types, the release the rows belong to),
so a definition changed in dbt reaches the next export without touching Python.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from pipelines.contract import Schema
from pipelines.settings import DBT_PROJECT_DIR

MARTS_DOCS_DIR = DBT_PROJECT_DIR / "models" / "marts"
PUBLICATION_DOCS = Path(__file__).with_name("publication_columns.yml")

HISTORY_SUFFIX = "_history"
"""pub.<table>_history keeps every release of <table> (architecture.md, 'Publication interface')."""


@dataclass(frozen=True)
class ModelDoc:
    """A dbt model's documentation: what the yml says, nothing more."""

    name: str
    description: str
    columns: dict[str, str]
    keys: tuple[str, ...] = ()  # from unique_combination_of_columns / a unique column test


@dataclass(frozen=True)
class Code:
    """One value of a coded column (conf_status or status) and what it means."""

    code: str
    label: str
    description: str


@dataclass(frozen=True)
class PublicationDocs:
    """publication_columns.yml: the columns publication adds, their codes and the table notes."""

    columns: dict[str, str]
    labels: dict[str, str]
    codes: dict[str, tuple[Code, ...]]
    notes: dict[str, str]


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    description: str
    source: str  # the yml the description comes from, so a reader can find (and fix) it


@dataclass(frozen=True)
class Release:
    release_id: str | None
    vintage: str | None
    pipeline_version: str | None
    released_at: str | None = None
    audit_passed: bool | None = None


@dataclass(frozen=True)
class Codebook:
    """Everything a reader of one exported file needs to interpret it."""

    table: str  # the pub table name, e.g. flex_indicators_monthly
    model: str  # the dbt model documenting it (the table without _history)
    description: str  # the dbt model description
    publication_note: str  # what publication changed (pub vs. the analysts' mart)
    columns: tuple[ColumnDoc, ...]
    releases: tuple[Release, ...]
    legend: dict[str, tuple[Code, ...]]  # conf_status / status codes present in the table
    filters: dict[str, list[str]] = field(default_factory=dict)
    row_count: int | None = None

    @property
    def qualified_name(self) -> str:
        return f"{Schema.PUB}.{self.table}"

    @property
    def release(self) -> Release | None:
        """The release of the rows when there is one (the latest tables); None for several or none."""
        return self.releases[0] if len(self.releases) == 1 else None

    def column(self, name: str) -> ColumnDoc:
        return next(c for c in self.columns if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["qualified_name"] = self.qualified_name
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)


def _text(value: object) -> str:
    """yml folded blocks end in a newline; the text itself is what the author wrote."""
    return str(value or "").strip()


def _model_keys(model: dict[str, Any]) -> tuple[str, ...]:
    """The grain as the dbt tests state it, so exports sort by it without restating it."""
    for test in model.get("data_tests") or model.get("tests") or []:
        if isinstance(test, dict) and "unique_combination_of_columns" in test:
            spec = test["unique_combination_of_columns"] or {}
            args = spec.get("arguments", spec)
            combination = args.get("combination_of_columns") or args.get("combination")
            if combination:
                return tuple(combination)
    for column in model.get("columns") or []:
        tests = column.get("data_tests") or column.get("tests") or []
        if "unique" in tests:
            return (column["name"],)
    return ()


@functools.cache
def load_model_docs(docs_dir: Path = MARTS_DOCS_DIR) -> dict[str, ModelDoc]:
    """Every model documented in the yml files of `docs_dir` (PyYAML; no compiled manifest needed)."""
    docs: dict[str, ModelDoc] = {}
    for path in sorted(docs_dir.glob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in content.get("models") or []:
            docs[model["name"]] = ModelDoc(
                name=model["name"],
                description=_text(model.get("description")),
                columns={c["name"]: _text(c.get("description")) for c in model.get("columns") or []},
                keys=_model_keys(model),
            )
    return docs


@functools.cache
def load_publication_docs(path: Path = PUBLICATION_DOCS) -> PublicationDocs:
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    return PublicationDocs(
        columns={c["name"]: _text(c["description"]) for c in content["columns"]},
        labels={c["name"]: _text(c.get("label")) for c in content["columns"]},
        codes={
            column: tuple(Code(str(c["code"]), _text(c["label"]), _text(c["description"])) for c in codes)
            for column, codes in content["codes"].items()
        },
        notes={k: _text(v) for k, v in content["notes"].items()},
    )


def model_of(table: str) -> str:
    """The dbt model documenting a pub table: pub.X and pub.X_history are both documented by marts.X."""
    return table.removesuffix(HISTORY_SUFFIX)


def _release_rows(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list[str]) -> list[Release]:
    """The releases behind the exported rows, with their details from pub.releases when it exists."""
    have = _columns(con, table)
    details = _releases_table(con)
    if "release_id" in have:
        wanted = [c for c in ("release_id", "vintage", "pipeline_version") if c in have]
        rows = con.execute(
            f"SELECT DISTINCT {', '.join(wanted)} FROM {Schema.PUB}.{table} {where} ORDER BY 1", params
        ).fetchall()
        found = [dict(zip(wanted, row, strict=True)) for row in rows]
    elif details:
        # A dimension carries no release columns: it is a copy taken at the latest release.
        order = "released_at DESC, release_id DESC" if "released_at" in details else "release_id DESC"
        row = _first(con, f"SELECT release_id FROM {Schema.PUB}.releases ORDER BY {order} LIMIT 1")
        found = [{"release_id": row[0]}] if row else []
    else:
        found = []
    releases = []
    for item in found:
        extra: dict[str, Any] = {}
        if details and item.get("release_id") is not None:
            wanted = [c for c in ("vintage", "pipeline_version", "released_at", "audit_passed") if c in details]
            row = _first(
                con, f"SELECT {', '.join(wanted)} FROM {Schema.PUB}.releases WHERE release_id = ?", [item["release_id"]]
            )
            extra = dict(zip(wanted, row, strict=True)) if row else {}
        merged = {**extra, **{k: v for k, v in item.items() if v is not None}}
        releases.append(
            Release(
                release_id=_str_or_none(merged.get("release_id")),
                vintage=_str_or_none(merged.get("vintage")),
                pipeline_version=_str_or_none(merged.get("pipeline_version")),
                released_at=_str_or_none(merged.get("released_at")),
                audit_passed=merged.get("audit_passed"),
            )
        )
    return releases


def _first(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple | None:
    """The first row, with the result read to the end: DuckDB 2.0 refuses new work on an unfinished one."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of pub.<table>, in table order."""
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [str(Schema.PUB), table],
    ).fetchall()
    return dict(rows)


def _releases_table(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return _columns(con, "releases")


def build_codebook(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[str] | None = None,
    where: str = "",
    params: list[str] | None = None,
    filters: dict[str, list[str]] | None = None,
) -> Codebook:
    """The codebook of pub.<table> as exported: the dbt docs, the types in the warehouse, the release.

    `where`/`params` are the export's filter (already parameterised), so the
    release list and row count describe the exported rows, not the whole table.
    """
    params = params or []
    model = model_of(table)
    model_docs = load_model_docs().get(model)
    pub_docs = load_publication_docs()
    types = _columns(con, table)
    selected = columns or list(types)
    column_docs = []
    for name in selected:
        if model_docs and name in model_docs.columns:
            description, source = model_docs.columns[name], f"dbt/models/marts/{model}.yml"
        elif name in pub_docs.columns:
            description, source = pub_docs.columns[name], "pipelines/export/publication_columns.yml"
        else:
            description, source = "", "undocumented"
        column_docs.append(ColumnDoc(name=name, type=types[name], description=description, source=source))
    note = pub_docs.notes["dimension" if model.startswith("dim_") else "published"]
    if table.endswith(HISTORY_SUFFIX):
        note = f"{note} {pub_docs.notes['history']}"
    legend = {column: codes for column, codes in pub_docs.codes.items() if column in types}
    count = _first(con, f"SELECT count(*) FROM {Schema.PUB}.{table} {where}", params)
    return Codebook(
        table=table,
        model=model,
        description=model_docs.description if model_docs else "",
        publication_note=note,
        columns=tuple(column_docs),
        releases=tuple(_release_rows(con, table, where, params)),
        legend=legend,
        filters=dict(filters or {}),
        row_count=int(count[0]) if count else None,
    )


def legend_lines(codebook: Codebook) -> list[str]:
    """One line per code, e.g. 'conf_status = C: primary confidential. Too few contributors ...'."""
    return [
        f"{column} = {code.code}: {code.label}. {code.description}"
        for column, codes in codebook.legend.items()
        for code in codes
    ]


def release_summary(codebook: Codebook) -> str:
    """'release R, vintage V, pipeline version P' (or the ranges, for a history export)."""
    if not codebook.releases:
        return "no release recorded"

    def values(attr: str) -> str:
        found = sorted({getattr(r, attr) for r in codebook.releases if getattr(r, attr) is not None})
        return ", ".join(found) if found else "unknown"

    label = "release" if len(codebook.releases) == 1 else "releases"
    return f"{label} {values('release_id')}, vintage {values('vintage')}, pipeline version {values('pipeline_version')}"


def render_markdown(codebook: Codebook) -> str:
    """The sidecar codebook (<name>.codebook.md): readable as plain text, renders as Markdown."""
    lines = [
        f"# Codebook: {codebook.qualified_name}",
        "",
        codebook.description,
        "",
        codebook.publication_note,
        "",
        "## Release",
        "",
    ]
    if not codebook.releases:
        lines.append("- no release recorded")
    for release in codebook.releases:
        parts = [
            f"release_id: {release.release_id or 'unknown'}",
            f"vintage: {release.vintage or 'unknown'}",
            f"pipeline_version: {release.pipeline_version or 'unknown'}",
        ]
        if release.released_at:
            parts.append(f"released_at: {release.released_at}")
        if release.audit_passed is not None:
            parts.append(f"disclosure audit passed: {'yes' if release.audit_passed else 'no'}")
        lines.append("- " + "; ".join(parts))
    lines += ["", f"Rows exported: {codebook.row_count}"]
    if codebook.filters:
        shown = "; ".join(f"{k} in ({', '.join(v)})" for k, v in codebook.filters.items())
        lines.append(f"Filters: {shown}")
    if codebook.legend:
        lines += ["", "## Legend", ""]
        lines += [f"- {line}" for line in legend_lines(codebook)]
    lines += ["", "## Columns", "", "| column | type | definition |", "|---|---|---|"]
    for column in codebook.columns:
        text = column.description.replace("|", "\\|").replace("\n", " ") or "(undocumented)"
        lines.append(f"| `{column.name}` | {column.type} | {text} |")
    lines += [
        "",
        f"Definitions from the dbt documentation of marts.{codebook.model} and from the publication rules.",
        "",
    ]
    return "\n".join(lines)
