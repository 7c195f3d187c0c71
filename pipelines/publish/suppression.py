"""Primary (C) and secondary (D) cell suppression of one period (spec: indicators.md, "Publication rules").

A period of a mart is a set of cells (its rows) tied by additive relations:
gender (ALL = F + M + U), age cohort (ALL = the bands), occupation (ALL = the
codes) and region (country = macro-regions, macro-region = its provinces,
province = its prefectures + a residual of persons or postings whose code is
province-level). Each relation's residual (its total minus the sum of its
parts, on the additive counts) becomes an extra cell when it is not zero:
never published, confidential when its contributors are below the threshold.

`protect()` runs the whole method on one period:

1. primary: rows below the contributor threshold are C;
2. secondary, to a fixed point: every relation holding a confidential cell
   must have at least two unpublished cells (the total and a residual count);
   where it has one, the published cell of that relation with the fewest
   contributors (ties: the smallest code) becomes D;
3. audit (`pipelines.publish.audit`): where a confidential cell is still
   derivable by combining relations, one such derivation is computed and the
   published cell it uses with the fewest contributors becomes D; back to 2.

Everything is set-wise over the period's arrays (numpy, polars): a round
finds every short relation and its candidate at once; only the application
of a round's choices (smallest first, skipping relations already satisfied)
walks the short relations of that round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from pipelines.publish.audit import AuditResult, Constraints, audit, derivations
from pipelines.settings import PIPELINE_VERSION

ALL = "ALL"
RESIDUAL_MARK = "~"  # pseudo-code of a residual among the finest codes (never a real code)
FREE, PRIMARY, SECONDARY = "F", "C", "D"  # SDMX OBS_CONF codes
REGION = "region"
TOTAL_LEVELS = ("country", "macro_region", "province")  # levels that have parts below them
MAX_AUDIT_ROUNDS = 50


@dataclass(frozen=True)
class TableRules:
    """What disclosure control needs to know about one published table."""

    name: str
    breakdowns: tuple[str, ...]  # key columns besides period and region, each with an ALL total
    counts: tuple[str, ...]  # additive counts: the variables of the audit
    contributors: str  # who is protected: persons (workers) or employers (demand)
    threshold: int  # a cell with fewer contributors is primary confidential
    measures: tuple[str, ...]  # every published figure (nulled on C and D rows)

    @property
    def key(self) -> tuple[str, ...]:
        return ("period", "region_level", "region_code", *self.breakdowns)

    @property
    def contributors_additive(self) -> bool:
        """Persons are additive (each sits in one part); distinct employers are not."""
        return self.contributors in self.counts


WORKERS = TableRules(
    name="flex_indicators_monthly",
    breakdowns=("age_cohort", "gender"),
    counts=("active_workers", "active_jobs", "new_workers"),
    contributors="active_workers",
    threshold=10,
    measures=(
        "active_workers", "active_jobs", "new_workers", "multi_platform_share", "side_job_share",
        "median_net_income", "p10_net_income", "p90_net_income", "mean_hours", "median_hourly_earnings",
        "below_min_wage_share", "social_insurance_share", "migrant_share", "retention_3m", "income_volatility",
        "gender_pay_gap",
    ),
)  # fmt: skip
DEMAND = TableRules(
    name="labor_demand_monthly",
    breakdowns=("occupation_code",),
    counts=("open_postings", "new_postings", "vacancies"),
    contributors="employers",
    threshold=3,
    measures=(
        "open_postings", "new_postings", "vacancies", "employers", "median_offered_monthly_wage",
        "age_capped_share", "gender_restricted_share", "remote_share", "median_days_to_close", "tightness",
    ),
)  # fmt: skip
TABLES = (WORKERS, DEMAND)


@dataclass
class CellSystem:
    """The cells of one period of one table and the relations between them.

    Cells 0..n_rows-1 are the mart's rows in input order; the rest are the
    non-zero residuals, one per relation whose parts do not add up to its total.
    """

    rules: TableRules
    keys: pl.DataFrame  # region_level, region_code, breakdowns, residual_of (relation name, residuals only)
    n_rows: int
    counts: np.ndarray  # (n_cells, len(rules.counts)) int64
    contributors: np.ndarray  # int64; for a non-additive residual, a lower bound (see `_residuals`)
    order: np.ndarray  # tie-break rank of each row: by its codes
    constraints: Constraints
    relation_names: list[str]

    @property
    def n_cells(self) -> int:
        return self.contributors.size

    @property
    def is_residual(self) -> np.ndarray:
        return np.arange(self.n_cells) >= self.n_rows


@dataclass
class Protection:
    """The outcome for one period: who is C, who is D, and what the audit found."""

    primary: np.ndarray  # bool per cell (rows below threshold, confidential residuals)
    secondary: np.ndarray  # bool per cell (rows only)
    audit_passed: bool = False
    secondary_rounds: int = 0
    audit_rounds: int = 0
    audit_suppressions: int = 0  # D cells added because the audit found a derivation
    audits: list[AuditResult] = field(default_factory=list)
    audit_log: dict[str, list[str]] = field(default_factory=dict)  # per round: input digest -> leaked cells

    def conf_status(self, n_rows: int) -> list[str]:
        """F / C / D for each mart row."""
        status = np.full(n_rows, FREE, dtype=object)
        status[self.secondary[:n_rows]] = SECONDARY
        status[self.primary[:n_rows]] = PRIMARY
        return status.tolist()

    def summary(self) -> dict[str, Any]:
        last = self.audits[-1] if self.audits else None
        return {
            "audit_passed": self.audit_passed,
            "primary": int(self.primary.sum()),
            "secondary": int(self.secondary.sum()),
            "secondary_rounds": self.secondary_rounds,
            "audit_rounds": self.audit_rounds,
            "audit_suppressions": self.audit_suppressions,
            "unknowns": last.unknowns if last else 0,
            "peeled": last.peeled if last else 0,
            "audit_method": last.method if last else None,
            "blocks": last.blocks if last else 0,
            "largest_block": list(last.largest_block) if last else [0, 0],
            "audit_seconds": round(sum(a.seconds for a in self.audits), 3),
            "audit_log": self.audit_log,
        }


def build_cells(rows: pl.DataFrame, parents: pl.DataFrame, rules: TableRules) -> CellSystem:
    """Cells and relations of one period.

    `rows`: the mart's rows of one period (key columns, counts, contributors).
    `parents`: region_code -> parent_region_code for every region below the
    country (macro-region -> CN, province -> macro-region, prefecture -> province).
    """
    cells = rows.select("region_level", "region_code", *rules.breakdowns).with_row_index("cell")
    members = _members(cells, parents, rules)
    values = rows.select(*dict.fromkeys([*rules.counts, rules.contributors])).with_row_index("cell")
    residuals = _residuals(members, values, rules)

    n_rows = rows.height
    residuals = residuals.with_row_index("cell", offset=n_rows)
    members = pl.concat(
        [
            members.select("relation", "cell", "is_total"),
            residuals.select("relation", pl.col("cell"), pl.lit(False).alias("is_total")),
        ]
    )
    relation_names = members.get_column("relation").unique(maintain_order=True)
    relation_id = pl.DataFrame({"relation": relation_names}).with_row_index("rel")
    members = members.join(relation_id, on="relation", how="left")

    residual_keys = (
        residuals.select("total_cell", "relation", "hierarchy")
        .join(cells.rename({"cell": "total_cell"}), on="total_cell", how="left")
        .select(*cells.drop("cell").columns, pl.col("relation").alias("residual_of"), "hierarchy")
    )
    keys = pl.concat(
        [
            cells.drop("cell").with_columns(pl.lit(None, pl.String).alias("residual_of")),
            residual_keys.drop("hierarchy"),
        ]
    )
    coordinates = pl.concat(
        [cells.drop("cell"), residual_keys.with_columns(_residual_coordinates(rules)).drop("residual_of", "hierarchy")]
    ).with_row_index("cell")

    counts = np.vstack(
        [rows.select(rules.counts).to_numpy().astype(np.int64), residuals.select(rules.counts).to_numpy()]
    ).reshape(-1, len(rules.counts))
    contributors = np.concatenate(
        [rows.get_column(rules.contributors).to_numpy().astype(np.int64), residuals.get_column("contributors")]
    )
    ranked = cells.sort(["region_code", *rules.breakdowns]).get_column("cell").to_numpy()
    order = np.zeros(contributors.size, dtype=np.int64)
    order[ranked] = np.arange(ranked.size)
    return CellSystem(
        rules=rules,
        keys=keys,
        n_rows=n_rows,
        counts=counts,
        contributors=contributors,
        order=order,
        constraints=_with_cover(
            Constraints(
                rel=members.get_column("rel").to_numpy().astype(np.int64),
                cell=members.get_column("cell").to_numpy().astype(np.int64),
                coef=np.where(members.get_column("is_total").to_numpy(), 1.0, -1.0),
                n_cells=contributors.size,
            ),
            coordinates,
            parents,
            counts,
            rules,
        ),
        relation_names=relation_names.to_list(),
    )


def _residual_coordinates(rules: TableRules) -> list[pl.Expr]:
    """Where a residual sits among the finest codes: a pseudo-code `~` of the varying dimension.

    The residual of `region|420000|...` is region `~420000` (persons of the
    province with a province-level code); the residual of `gender|...` is gender `~`.
    """
    hierarchy = pl.col("hierarchy")
    return [
        pl.when(hierarchy == REGION)
        .then(pl.concat_str([pl.lit(RESIDUAL_MARK), "region_code"]))
        .otherwise(pl.col("region_code"))
        .alias("region_code"),
        *(pl.when(hierarchy == b).then(pl.lit(RESIDUAL_MARK)).otherwise(pl.col(b)).alias(b) for b in rules.breakdowns),
    ]


def _with_cover(
    constraints: Constraints, coordinates: pl.DataFrame, parents: pl.DataFrame, counts: np.ndarray, rules: TableRules
) -> Constraints:
    """Add the leaf cover (which finest cells each cell sums) when it describes the system exactly.

    A leaf is a cell whose region is a prefecture or a residual `~X` and whose
    breakdowns are all codes (no ALL). Each leaf sits under its region's
    ancestors times {code, ALL} per breakdown. The cover is used only if every
    relation is an identity over the leaves (total = parts + residual, as 0/1
    vectors) and every cell's counts are the sum of its leaves' counts; then
    the leaves are exactly the free variables of the system. Otherwise (e.g.
    a breakdown residual below a region residual, which never occurs in the
    marts) the audit uses the unknown-side formulation alone.
    """
    ancestors = _region_ancestors(parents)
    is_leaf = pl.all_horizontal(pl.col(b) != ALL for b in rules.breakdowns) & (
        pl.col("region_code").str.starts_with(RESIDUAL_MARK)
        | ~pl.col("region_code").is_in(parents.get_column("parent_region_code").unique().to_list())
    )
    leaves = coordinates.filter(is_leaf)
    expanded = leaves.rename({"cell": "leaf"}).join(ancestors, on="region_code", how="left")
    expanded = expanded.with_columns(pl.coalesce("ancestor", "region_code").alias("region_code")).drop("ancestor")
    for b in rules.breakdowns:
        expanded = pl.concat([expanded, expanded.with_columns(pl.lit(ALL).alias(b))])
    cover = expanded.join(coordinates, on=["region_code", *rules.breakdowns], how="inner").select("cell", "leaf")
    cover_cell = cover.get_column("cell").to_numpy().astype(np.int64)
    cover_leaf = cover.get_column("leaf").to_numpy().astype(np.int64)

    leaf_sum = np.zeros_like(counts)
    np.add.at(leaf_sum, cover_cell, counts[cover_leaf])
    if not np.array_equal(leaf_sum, counts):
        return constraints
    per_pair = pl.DataFrame({"rel": constraints.rel, "cell": constraints.cell, "coef": constraints.coef})
    identity = (
        per_pair.join(cover, on="cell").group_by("rel", "leaf").agg(pl.col("coef").sum()).filter(pl.col("coef") != 0)
    )
    if identity.height:
        return constraints
    return Constraints(
        rel=constraints.rel,
        cell=constraints.cell,
        coef=constraints.coef,
        n_cells=constraints.n_cells,
        cover_cell=cover_cell,
        cover_leaf=cover_leaf,
    )


def _region_ancestors(parents: pl.DataFrame) -> pl.DataFrame:
    """(region_code, ancestor) for every region and pseudo-region `~X`, itself included."""
    links = parents.select("region_code", pl.col("parent_region_code").alias("ancestor"))
    closure = links
    frontier = links
    while frontier.height:  # one level up per round; the hierarchy is four levels deep
        frontier = frontier.join(links.rename({"region_code": "ancestor", "ancestor": "next"}), on="ancestor").select(
            "region_code", pl.col("next").alias("ancestor")
        )
        closure = pl.concat([closure, frontier]).unique()
    codes = pl.concat([links.get_column("region_code"), links.get_column("ancestor")]).unique()
    selves = pl.DataFrame({"region_code": codes, "ancestor": codes})
    closure = pl.concat([closure, selves]).unique()
    pseudo = closure.filter(pl.col("region_code").is_in(links.get_column("ancestor").unique().to_list())).select(
        pl.concat_str([pl.lit(RESIDUAL_MARK), "region_code"]).alias("region_code"), "ancestor"
    )
    pseudo_self = pseudo.select("region_code", pl.col("region_code").alias("ancestor")).unique()
    return pl.concat([closure, pseudo, pseudo_self])


def _members(cells: pl.DataFrame, parents: pl.DataFrame, rules: TableRules) -> pl.DataFrame:
    """(relation, cell, is_total) for every relation instance of the period.

    A relation is named by its hierarchy and the codes it holds fixed, e.g.
    `gender|420000|25-34` or `region|420000|ALL|F`; its total is the cell whose
    varying code is ALL (breakdowns) or the parent region itself (region).
    """
    parts = []
    for varying in rules.breakdowns:
        fixed = ["region_code", *(b for b in rules.breakdowns if b != varying)]
        parts.append(
            cells.select(
                pl.concat_str([pl.lit(varying), *fixed], separator="|").alias("relation"),
                pl.lit(varying).alias("hierarchy"),
                "cell",
                (pl.col(varying) == ALL).alias("is_total"),
            )
        )
    with_parent = cells.join(parents, on="region_code", how="left")
    parts.append(
        with_parent.filter(pl.col("parent_region_code").is_not_null()).select(
            pl.concat_str([pl.lit(REGION), "parent_region_code", *rules.breakdowns], separator="|").alias("relation"),
            pl.lit(REGION).alias("hierarchy"),
            "cell",
            pl.lit(False).alias("is_total"),
        )
    )
    parts.append(
        cells.filter(pl.col("region_level").is_in(TOTAL_LEVELS)).select(
            pl.concat_str([pl.lit(REGION), "region_code", *rules.breakdowns], separator="|").alias("relation"),
            pl.lit(REGION).alias("hierarchy"),
            "cell",
            pl.lit(True).alias("is_total"),
        )
    )
    members = pl.concat(parts)
    totals = members.group_by("relation").agg(pl.col("is_total").sum().alias("totals"))
    broken = totals.filter(pl.col("totals") != 1)
    if broken.height:
        raise ValueError(f"{rules.name}: relations without exactly one total: {broken.head(5).to_dicts()}")
    return members


def _residuals(members: pl.DataFrame, values: pl.DataFrame, rules: TableRules) -> pl.DataFrame:
    """One row per relation whose parts do not add up to the total: the residual cell.

    Its counts are total minus parts. Its contributors: for persons, the same
    difference (each person sits in exactly one part or in the residual); for
    employers, who are not additive, the lower bound max(total - sum of parts, 1),
    so the residual is treated as confidential unless it provably has enough.
    A zero residual is a structural zero, like an absent cell: no cell is made.
    """
    signed = members.join(values, on="cell", how="left").with_columns(
        pl.when(pl.col("is_total")).then(1).otherwise(-1).alias("sign")
    )
    wanted = [*rules.counts] if rules.contributors_additive else [*rules.counts, rules.contributors]
    per_relation = signed.group_by("relation", maintain_order=True).agg(
        *(((pl.col(c) * pl.col("sign")).sum()).alias(c) for c in wanted),
        pl.col("cell").filter(pl.col("is_total")).first().alias("total_cell"),
        pl.col("hierarchy").first(),
    )
    negative = per_relation.filter(pl.any_horizontal(pl.col(c) < 0 for c in rules.counts))
    if negative.height:
        raise ValueError(f"{rules.name}: totals smaller than their parts: {negative.head(5).to_dicts()}")
    residuals = per_relation.filter(pl.any_horizontal(pl.col(c) != 0 for c in rules.counts))
    if rules.contributors_additive:
        contributors = pl.col(rules.contributors)
    else:
        contributors = pl.max_horizontal(pl.col(rules.contributors), pl.lit(1))
    return residuals.select(
        "relation",
        "hierarchy",
        "total_cell",
        *(pl.col(c).cast(pl.Int64) for c in rules.counts),
        contributors.cast(pl.Int64).alias("contributors"),
    )


def protect(system: CellSystem, audited: Mapping[str, list[str]] | None = None) -> Protection:
    """Primary, secondary and audit-driven suppression of one period, to a fixed point.

    `audited`: what earlier audits found, as input digest (`audit_input_digest`) ->
    the cells they found derivable (by key). A round whose input is among them
    takes that finding instead of being audited again: the audit depends on
    nothing but its input, and a daily run that moves a few persons between
    cells mostly leaves a period's suppression pattern, round by round, as it
    was. What the round then suppresses still follows today's counts.
    """
    audited = audited or {}
    threshold = system.rules.threshold
    protection = Protection(
        primary=system.contributors < threshold,
        secondary=np.zeros(system.n_cells, dtype=bool),
    )
    labels = _cell_labels(system)
    rank = np.argsort(np.argsort(labels.to_numpy(), kind="stable"), kind="stable")
    relations = _relations_digest(system, labels)  # the same in every round: only the masks change
    for _ in range(MAX_AUDIT_ROUNDS):
        protection.secondary_rounds += _secondary(system, protection)
        confidential = protection.primary | protection.secondary
        unpublished = confidential | system.is_residual
        digest = audit_input_digest(relations, labels, unpublished, confidential)
        protection.audit_rounds += 1
        if digest in audited:
            found = set(audited[digest])
            leaks = np.flatnonzero(labels.is_in(found).to_numpy())
            protection.audits.append(
                AuditResult(derivable=np.zeros(system.n_cells, dtype=bool), unknowns=int(unpublished.sum()),
                            method="kept: this input was audited before")
            )
        else:
            result = audit(system.constraints, unpublished)
            protection.audits.append(result)
            leaks = result.leaks(confidential)
        protection.audit_log[digest] = labels.gather(leaks).to_list()
        if not leaks.size:
            protection.audit_passed = True
            return protection
        added = _suppress_in_derivations(system, unpublished, leaks, rank)
        if not added.size:
            return protection  # nothing left to suppress: the audit fails and no release is made
        protection.secondary[added] = True
        protection.audit_suppressions += int(added.size)
    return protection


def _cell_labels(system: CellSystem) -> pl.Series:
    """Each cell's key as one string: cells are named by their keys, not by their index (the rows' order)."""
    return system.keys.select(pl.concat_str(pl.all().cast(pl.String).fill_null("-"), separator="|")).to_series()


def _relations_digest(system: CellSystem, labels: pl.Series) -> str:
    """A SHA-256 of the period's relations (each pair: relation, cell by key, sign) and the pipeline
    version, so a release that changes the audit does not take findings of the old one."""
    c = system.constraints
    pairs = pl.DataFrame(
        {
            "relation": np.asarray(system.relation_names, dtype=object)[c.rel],
            "cell": labels.gather(c.cell),
            "coef": c.coef,
        }
    ).sort("relation", "cell", "coef")
    return hashlib.sha256(PIPELINE_VERSION.encode() + pairs.write_csv().encode()).hexdigest()


def audit_input_digest(relations: str, labels: pl.Series, unpublished: np.ndarray, confidential: np.ndarray) -> str:
    """A SHA-256 of everything the audit's finding depends on: the relations (`_relations_digest`),
    and which cells are unpublished and confidential, named by key."""
    cells = pl.DataFrame({"cell": labels, "unpublished": unpublished, "confidential": confidential}).sort("cell")
    return hashlib.sha256(relations.encode() + cells.write_csv().encode()).hexdigest()


def _secondary(system: CellSystem, protection: Protection) -> int:
    """The two-unpublished-cells rule, in rounds until no relation needs another cell.

    A round finds every relation that holds a confidential cell but only one
    unpublished cell, and its published cell with the fewest contributors
    (ties by code), set-wise. The choices are then applied smallest first,
    skipping a relation that an earlier choice of the same round already
    gave a second unpublished cell: the same result as handling the relations
    one at a time, without suppressing two cells where one does.
    """
    c = system.constraints
    n_rel = c.n_relations
    by_cell = np.argsort(c.cell, kind="stable")
    starts = np.searchsorted(c.cell[by_cell], np.arange(system.n_cells + 1))
    rounds = 0
    while True:
        confidential = protection.primary | protection.secondary
        unpublished = confidential | system.is_residual
        n_unpublished = np.bincount(c.rel, weights=unpublished[c.cell], minlength=n_rel)
        n_confidential = np.bincount(c.rel, weights=confidential[c.cell], minlength=n_rel)
        short = (n_confidential > 0) & (n_unpublished < 2)
        if not short.any():
            return rounds
        candidate = short[c.rel] & ~unpublished[c.cell]
        relations, chosen = _smallest_per_group(system, c.rel[candidate], c.cell[candidate])
        if not chosen.size:
            return rounds  # only possible on malformed input; the audit will then fail
        for i in np.lexsort((relations, system.order[chosen], system.contributors[chosen])):
            if n_unpublished[relations[i]] >= 2:
                continue
            cell = chosen[i]
            protection.secondary[cell] = True
            n_unpublished[c.rel[by_cell[starts[cell] : starts[cell + 1]]]] += 1
        rounds += 1


def _suppress_in_derivations(
    system: CellSystem, unpublished: np.ndarray, leaks: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """For each derivable confidential cell, the published cell with the fewest contributors
    among those one derivation of it combines (ties by code): suppressing it breaks that
    derivation, where a cell beside the leak may leave it intact (the derivation then runs
    through other relations, and each audit round would hide one more cell in vain).

    Without a cover (never the case for the marts) the derivation is not computed:
    the cell is sought beside the leak.
    """
    if system.constraints.cover_cell is None:
        return _suppress_beside(system, unpublished, leaks)
    leak, used = derivations(system.constraints, unpublished, leaks, rank)
    return np.unique(_smallest_per_group(system, leak, used)[1])


def _suppress_beside(system: CellSystem, unpublished: np.ndarray, leaks: np.ndarray) -> np.ndarray:
    """For each derivable confidential cell, the published cell with the fewest contributors
    in a relation containing it (ties by code).

    When every relation containing it is already fully unpublished (the
    derivation runs through further relations), the search widens one
    relation at a time until it meets a published cell.
    """
    c = system.constraints
    pairs = pl.DataFrame({"rel": c.rel, "cell": c.cell})
    reached = pl.DataFrame({"leak": leaks, "cell": leaks})
    chosen: list[np.ndarray] = []
    while reached.height:
        around = (
            reached.join(pairs, on="cell")
            .select("leak", "rel")
            .unique()
            .join(pairs, on="rel")
            .select("leak", "cell")
            .unique()
        )
        leak = around.get_column("leak").to_numpy()
        cell = around.get_column("cell").to_numpy()
        published = ~unpublished[cell]
        found, picks = _smallest_per_group(system, leak[published], cell[published])
        chosen.append(picks)
        widened = around.filter(~pl.col("leak").is_in(found.tolist()))
        if widened.height == reached.filter(~pl.col("leak").is_in(found.tolist())).height:
            break  # nothing new within reach: nothing left to suppress around these cells
        reached = widened
    return np.unique(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)


def _smallest_per_group(system: CellSystem, group: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each group, its cell with the fewest contributors, ties by code: (groups, cells)."""
    if not cell.size:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    order = np.lexsort((system.order[cell], system.contributors[cell], group))
    group, cell = group[order], cell[order]
    first = np.ones(group.size, dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return group[first], cell[first]
