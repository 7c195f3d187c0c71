"""A few figures of the newest month, read from the marts, for the end of a run.

They show at a glance that the run produced sensible numbers; the definitions live
in the dbt model docs (dbt/models/marts/*.yml), never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.contract import Schema
from pipelines.warehouse import connect

GROUPS = (
    ("all workers", "ALL", "ALL"),
    ("women 35-44", "35-44", "F"),
    ("under 25", "16-24", "ALL"),
)


@dataclass(frozen=True)
class Headline:
    label: str
    period: str
    active_workers: int | None
    median_net_income: float | None
    new_workers: int | None


def headlines(warehouse: Path) -> tuple[list[Headline], dict[str, object]]:
    """Worker figures for the country in the newest month, and that month's labour demand."""
    con = connect(warehouse, read_only=True)
    try:
        flex = f"{Schema.MARTS}.flex_indicators_monthly"
        latest = con.execute(f"SELECT max(period) FROM {flex}").fetchone()[0]
        if latest is None:
            return [], {}
        rows = []
        for label, cohort, gender in GROUPS:
            found = con.execute(
                f"""SELECT active_workers, median_net_income, new_workers FROM {flex}
                    WHERE period = ? AND region_level = 'country' AND age_cohort = ? AND gender = ?""",
                [latest, cohort, gender],
            ).fetchone()
            rows.append(Headline(label, latest, *(found or (None, None, None))))
        demand = con.execute(
            f"""SELECT period, open_postings, new_postings, age_capped_share FROM {Schema.MARTS}.labor_demand_monthly
                WHERE region_level = 'country' AND occupation_code = 'ALL' ORDER BY period DESC LIMIT 1"""
        ).fetchone()
        keys = ("period", "open_postings", "new_postings", "age_capped_share")
        return rows, dict(zip(keys, demand, strict=True)) if demand else {}
    finally:
        con.close()
