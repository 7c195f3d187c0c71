"""Reference data for ingestion, read from the dbt seeds (one copy: dbt loads the same files into ref.*).

Ingestion validates codes before dbt has run, so it reads the seed CSVs directly
rather than the `ref` schema.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from pipelines.settings import SEEDS_DIR


@cache
def seed(name: str) -> pl.DataFrame:
    """A seed as text columns (codes keep their leading zeros)."""
    return pl.read_csv(SEEDS_DIR / f"{name}.csv", infer_schema=False)


def known_platforms() -> frozenset[str]:
    return frozenset(seed("platforms")["platform_id"].to_list())


def known_regions() -> frozenset[str]:
    return frozenset(seed("regions")["region_code"].to_list())


def known_occupations() -> frozenset[str]:
    return frozenset(seed("occupations")["occupation_code"].to_list())
