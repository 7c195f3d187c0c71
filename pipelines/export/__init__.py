"""Exports of published tables for economists: each file carries its codebook (pipelines/export).

Reads only `pub` (indicators.md, "Publication rules"); definitions come from
the dbt docs (dbt/models/marts/*.yml) and publication_columns.yml.
"""

from pipelines.export.codebook import Codebook, build_codebook, render_markdown
from pipelines.export.export import (
    PUBLISHED_TABLES,
    ExportError,
    ExportResult,
    TableRefused,
    WarehouseUnavailable,
    export_table,
)

__all__ = [
    "PUBLISHED_TABLES",
    "Codebook",
    "ExportError",
    "ExportResult",
    "TableRefused",
    "WarehouseUnavailable",
    "build_codebook",
    "export_table",
    "render_markdown",
]
