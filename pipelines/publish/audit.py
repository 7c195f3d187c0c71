"""The disclosure audit: can any confidential count be derived exactly from the published ones?

Every table is a set of additive relations (a total equals the sum of its parts,
spec: indicators.md, "Publication rules"). Written as a linear system `A x = 0`
over all cells of one period (rows = relations, columns = cells, +1 for the
total and -1 for each part, residuals included), an attacker knows `x_j` for
every published cell j. An unpublished cell s is determined by the published
values exactly when the unit vector e_s lies in the row space of A restricted
to the unpublished columns (A_S): then some combination of the relations
isolates x_s. This does not depend on the values, so one test covers every
additive count of the table (active_workers, active_jobs, new_workers;
open_postings, new_postings, vacancies).

The test is exact linear algebra (no interval reasoning: bounds from
non-negativity, as in tau-argus' interval audit, are out of scope; see
docs/disclosure-control.md). Two equivalent formulations are used, whichever
is cheaper for the period:

- *unknown side*: (1) peeling: a relation with exactly one unknown cell gives
  that cell away by subtraction; it becomes known, repeated to a fixed point
  (the attack "subtract along a hierarchy"); (2) blocking: the remaining
  unknown cells fall into connected components (cells linked by a shared
  relation), independent systems; (3) per block the reduced row echelon form
  of A_S: e_s is in its row space iff s is a pivot column whose row is e_s
  itself (any vector of the row space is the combination of the echelon rows
  given by its own values at the pivot columns). Cheap when few cells are
  suppressed.
- *leaf side*: every cell is the sum of the finest cells below it (leaves:
  prefecture or residual x every breakdown at its finest code), and the
  leaves are free: the solutions of `A x = 0` are exactly `x = N t` with N the
  0/1 cover matrix (checked when the cover is built). Published cells fix
  `N_P t`; cell s is derivable iff its cover row N_s lies in the row space of
  N_P (after removing the published leaves, which are known). Cheap when most
  cells are suppressed (small tables, small regions), where the unknown side
  would be one block of thousands of cells.

Elimination runs in exact integer arithmetic modulo a 31-bit prime
(`pipelines.publish.elimination`: Gauss-Jordan, pivots chosen in sparse columns
and short rows, so the {-1, 0, 1} systems stay sparse; compiled, a block of
2,000 x 3,000 takes milliseconds where a floating point SVD took seconds and
needed a rounding threshold). The result equals the
rational one unless the prime divides one of the few minors the elimination
relies on; with minors of at most a few hundred 31-bit prime factors against
~10^8 primes of that size, that is a chance of order 10^-6 per block, and the
tests compare both formulations with a floating-point least-squares check.
The worst-case cost of an m x n block is O(m n min(m, n)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from pipelines.publish.elimination import PRIME, covers_in_row_space, reduced_echelon


@dataclass(frozen=True)
class Constraints:
    """A sparse additive system: pair k says `cell[k]` is in relation `rel[k]` with sign `coef[k]`.

    `cover_cell`/`cover_leaf`, when given, say which leaves (finest cells, by
    cell index) each cell sums; they enable the leaf-side formulation and must
    describe the solution space exactly (see `pipelines.publish.suppression`).
    """

    rel: np.ndarray  # int64, relation id per pair (0..n_relations-1)
    cell: np.ndarray  # int64, cell index per pair (0..n_cells-1)
    coef: np.ndarray  # float64, +1 for the relation's total, -1 for a part (or a residual)
    n_cells: int
    cover_cell: np.ndarray | None = None  # int64, cell per (cell, leaf) pair
    cover_leaf: np.ndarray | None = None  # int64, leaf (a cell index) per pair

    @property
    def n_relations(self) -> int:
        return int(self.rel.max()) + 1 if self.rel.size else 0


@dataclass
class AuditResult:
    """Which unpublished cells are derivable, and what it cost to find out."""

    derivable: np.ndarray  # bool per cell: unpublished, yet determined by the published cells
    unknowns: int = 0  # unpublished cells
    method: str = "unknown side"  # or "leaf side"
    peeled: int = 0  # derivable by plain subtraction (unknown side, step 1)
    blocks: int = 0  # dense blocks factorised
    largest_block: tuple[int, int] = (0, 0)  # rows x columns of the biggest one
    seconds: float = 0.0

    def leaks(self, confidential: np.ndarray) -> np.ndarray:
        """Indices of confidential cells that can be derived: must be empty for a release."""
        return np.flatnonzero(self.derivable & confidential)


def audit(constraints: Constraints, unpublished: np.ndarray, method: str = "auto") -> AuditResult:
    """Find every unpublished cell whose value follows exactly from the published cells.

    `method`: "auto" (the cheaper formulation), "unknown" or "leaf" (tests
    compare the two; "leaf" needs the cover).
    """
    started = time.perf_counter()
    unpublished = unpublished.astype(bool)
    unknown = unpublished.copy()
    derivable = np.zeros(constraints.n_cells, dtype=bool)
    peeled = _peel(constraints, unknown, derivable)
    blocks = _unknown_side_blocks(constraints, unknown)
    unknown_cost = sum(_cost(np.unique(r).size, np.unique(c).size) for r, c, _ in blocks)

    leaf_shape = _leaf_side_shape(constraints, unpublished)
    use_leaf = method == "leaf" or (method == "auto" and leaf_shape is not None and _cost(*leaf_shape) < unknown_cost)
    if use_leaf:
        if leaf_shape is None:
            raise ValueError("the leaf-side audit needs the cover of the cells")
        result = AuditResult(derivable=np.zeros(constraints.n_cells, dtype=bool), method="leaf side")
        _leaf_side_test(*_leaf_side_system(constraints, unpublished), result)
    else:
        result = AuditResult(derivable=derivable, peeled=peeled)
        for r, c, k in blocks:
            shape = _rank_test(r, c, k, result.derivable)
            result.blocks += 1
            if shape[1] > result.largest_block[1]:
                result.largest_block = shape
    result.unknowns = int(unpublished.sum())
    result.seconds = time.perf_counter() - started
    return result


def _cost(m: int, n: int) -> int:
    """Flops of a dense SVD of an m x n block, up to a constant."""
    return m * n * min(m, n)


def _unknown_side_blocks(
    constraints: Constraints, unknown: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The (rel, cell, coef) pairs of each connected block of unknown cells."""
    labels = _components(constraints, unknown)
    in_play = unknown[constraints.cell]
    rel, cell, coef = constraints.rel[in_play], constraints.cell[in_play], constraints.coef[in_play]
    if not cell.size:
        return []
    component_of_pair = labels[cell]
    order = np.argsort(component_of_pair, kind="stable")
    rel, cell, coef, component_of_pair = rel[order], cell[order], coef[order], component_of_pair[order]
    bounds = np.flatnonzero(np.diff(component_of_pair)) + 1
    return list(zip(np.split(rel, bounds), np.split(cell, bounds), np.split(coef, bounds), strict=True))


def _leaf_side_shape(constraints: Constraints, unpublished: np.ndarray) -> tuple[int, int] | None:
    """Published cells x unknown leaves that the leaf side would factorise; None without a cover."""
    if constraints.cover_cell is None or constraints.cover_leaf is None:
        return None
    keep = unpublished[constraints.cover_leaf] & ~unpublished[constraints.cover_cell]
    return np.unique(constraints.cover_cell[keep]).size, int(np.unique(constraints.cover_leaf[keep]).size)


def _leaf_side_system(
    constraints: Constraints, unpublished: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """(published covers, unknown covers as (row, leaf) entries, unknown cell ids), on the unpublished leaves.

    Published leaves are known values, so their columns drop out; a published
    cell that covers no unknown leaf says nothing and drops out too.
    """
    assert constraints.cover_cell is not None and constraints.cover_leaf is not None
    keep = unpublished[constraints.cover_leaf]
    cell, leaf = constraints.cover_cell[keep], constraints.cover_leaf[keep]
    leaves, leaf_col = np.unique(leaf, return_inverse=True)
    published_rows = np.unique(cell[~unpublished[cell]])
    unknown_rows = np.flatnonzero(unpublished)
    known = np.zeros((published_rows.size, leaves.size), dtype=np.int64)
    pub_pair = ~unpublished[cell]
    known[np.searchsorted(published_rows, cell[pub_pair]), leaf_col[pub_pair]] = 1
    hid_pair = unpublished[cell]
    hidden = (np.searchsorted(unknown_rows, cell[hid_pair]), leaf_col[hid_pair])  # (unknown cell, leaf) entries
    return known, hidden, unknown_rows


def _leaf_side_test(
    known: np.ndarray, hidden: tuple[np.ndarray, np.ndarray], cells: np.ndarray, result: AuditResult
) -> None:
    """Mark the unknown cells whose cover row lies in the row space of the published covers."""
    result.blocks = 1
    result.largest_block = known.shape
    result.derivable[cells[covers_in_row_space(known, *hidden, n_vectors=cells.size)]] = True


def _peel(constraints: Constraints, unknown: np.ndarray, derivable: np.ndarray) -> int:
    """Step 1: repeatedly reveal the only unknown cell of a relation. Updates both masks in place."""
    peeled = 0
    n_rel = constraints.n_relations
    while True:
        pair_unknown = unknown[constraints.cell]
        per_relation = np.bincount(constraints.rel, weights=pair_unknown, minlength=n_rel)
        revealing = pair_unknown & (per_relation[constraints.rel] == 1)
        if not revealing.any():
            return peeled
        cells = np.unique(constraints.cell[revealing])
        derivable[cells] = True
        unknown[cells] = False
        peeled += cells.size


def _components(constraints: Constraints, unknown: np.ndarray) -> np.ndarray:
    """Step 2: label each unknown cell with the smallest cell index of its connected component.

    Label propagation over the bipartite graph relations <-> unknown cells,
    set-wise with numpy; it needs as many rounds as the graph's diameter
    (a few dozen for these hierarchies).
    """
    labels = np.arange(constraints.n_cells)
    in_play = unknown[constraints.cell]
    rel, cell = constraints.rel[in_play], constraints.cell[in_play]
    if not cell.size:
        return labels
    sentinel = constraints.n_cells
    while True:
        per_relation = np.full(constraints.n_relations, sentinel)
        np.minimum.at(per_relation, rel, labels[cell])
        updated = labels.copy()
        np.minimum.at(updated, cell, per_relation[rel])
        if np.array_equal(updated, labels):
            return labels
        labels = updated


def _rank_test(rel: np.ndarray, cell: np.ndarray, coef: np.ndarray, derivable: np.ndarray) -> tuple[int, int]:
    """Step 3 on one block: mark the cells whose unit vector lies in the block's row space."""
    rows, row_index = np.unique(rel, return_inverse=True)
    cols, col_index = np.unique(cell, return_inverse=True)
    block = np.zeros((rows.size, cols.size), dtype=np.int64)
    np.add.at(block, (row_index, col_index), coef.astype(np.int64))
    reduced, pivot_row = reduced_echelon(block)
    pivots = np.flatnonzero(pivot_row >= 0)
    alone = np.count_nonzero(reduced[pivot_row[pivots]], axis=1) == 1
    derivable[cols[pivots[alone]]] = True
    return block.shape


def derivations(
    constraints: Constraints, unpublished: np.ndarray, cells: np.ndarray, rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One exact derivation of each given (derivable) cell: the published cells it combines.

    On the leaf side, cell s is derived by coefficients y over the published cells
    that cover unknown leaves, with `y N_P = N_s` on those leaves; what the
    combination then differs from `N_s` by lies on published leaves, whose values
    it subtracts. The cells with a non-zero y and those leaves are the published
    figures the derivation uses; suppressing one of them breaks it. The system is
    solved by the same elimination, with rows and columns in the cells' canonical
    order (`rank`, by key), so the derivation found does not depend on the order
    of the mart's rows. Returns (cell, published cell) pairs; a cell that is not
    derivable has none. Needs the cover.
    """
    assert constraints.cover_cell is not None and constraints.cover_leaf is not None
    keep = unpublished[constraints.cover_leaf]
    cell, leaf = constraints.cover_cell[keep], constraints.cover_leaf[keep]
    leaves = _in_canonical_order(np.unique(leaf), rank)
    published = _in_canonical_order(np.unique(cell[~unpublished[cell]]), rank)
    row_of, column_of = _positions(leaves, constraints.n_cells), _positions(published, constraints.n_cells)
    target_of = _positions(cells, constraints.n_cells)
    system = np.zeros((leaves.size, published.size + cells.size), dtype=np.int64)
    given = column_of[cell] >= 0
    system[row_of[leaf[given]], column_of[cell[given]]] = 1
    wanted = target_of[cell] >= 0
    system[row_of[leaf[wanted]], published.size + target_of[cell[wanted]]] = 1
    reduced, pivot_row = reduced_echelon(system, pivot_columns=published.size)
    pivots = np.flatnonzero(pivot_row >= 0)
    coefficients = reduced[pivot_row[pivots], published.size :]  # y at the pivot columns; 0 elsewhere
    consistent = ~np.any(np.delete(reduced[:, published.size :], pivot_row[pivots], axis=0) != 0, axis=0)
    weights = np.zeros((cells.size, constraints.n_cells), dtype=np.int64)  # y per target, minus the target
    weights[:, published[pivots]] = (coefficients * consistent).T
    weights[np.arange(cells.size), cells] = PRIME - 1
    subtracted = np.zeros_like(weights)
    on_known = ~keep  # cover pairs on published leaves
    known_leaf, covering = constraints.cover_leaf[on_known], constraints.cover_cell[on_known]
    np.add.at(subtracted, (slice(None), known_leaf), weights[:, covering])
    subtracted %= PRIME
    weights[:, cells] = 0
    used = weights + subtracted  # each cell is either a published total (y) or a published leaf
    used[~consistent] = 0
    target, cell_used = np.nonzero(used)
    return cells[target], cell_used


def _in_canonical_order(cells: np.ndarray, rank: np.ndarray) -> np.ndarray:
    return cells[np.argsort(rank[cells], kind="stable")]


def _positions(cells: np.ndarray, n_cells: int) -> np.ndarray:
    """Position of each cell in `cells`, -1 for a cell not in it."""
    position = np.full(n_cells, -1, dtype=np.int64)
    position[cells] = np.arange(cells.size)
    return position
