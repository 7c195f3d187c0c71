"""Exact Gauss-Jordan elimination modulo a 31-bit prime, compiled with numba.

The disclosure audit factorises one matrix per period and audit round, up to
~2,000 x 3,000 at 100,000 workers. The matrices are sparse and stay sparse (a
tenth of a percent of the entries at the end), so each pivot step touches a few
dozen entries: written with numpy, the time went into the per-column call
overhead (0.2-0.3 s per matrix, dozens of matrices per publication). The same
loops compiled take milliseconds. They are compiled on first use, so a run that
audits nothing does not import numba (~1 s); numba caches the machine code beside
this module, so only the first process after an install compiles it (2-4 s).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

PRIME = 2_147_483_629  # the largest prime below 2^31: products of two residues fit in int64


def reduced_echelon(matrix: np.ndarray, pivot_columns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reduced row echelon form of an integer matrix modulo PRIME, and the pivot row of each column (-1: none).

    Gauss-Jordan with a sparse pivot order: columns by how few rows they touch,
    in each the remaining row with the fewest non-zeros (the first such row). Each
    step updates only the rows holding the pivot column and only on the pivot
    row's support, so the cost follows the (small) fill-in, not the matrix size.
    Only the first `pivot_columns` columns take pivots (the others are
    right-hand sides). Entries must be small (|x| < PRIME). A C-contiguous int64
    matrix is reduced in place (the callers build it for this: at 1M workers a
    copy of a 3,600 x 3,200 system cost more than its elimination).
    """
    reduced = np.ascontiguousarray(matrix, dtype=np.int64)
    n_pivot_columns = reduced.shape[1] if pivot_columns is None else pivot_columns
    return reduced, _compiled(_gauss_jordan)(reduced, n_pivot_columns, PRIME)


def covers_in_row_space(matrix: np.ndarray, vector: np.ndarray, column: np.ndarray, n_vectors: int) -> np.ndarray:
    """For each 0/1 vector, whether it is a combination of the rows of `matrix` (modulo PRIME).

    The vectors are given by their entries of 1: (vector[k], column[k]). The
    reduced echelon form R is the identity on its pivot columns P and an echelon
    row is zero at every other pivot column, so v is in the row space iff
    v - v[P] R = 0, with v's own entries at P as the coefficients. `matrix` is
    reduced in place (see `reduced_echelon`).
    """
    if not matrix.size:
        return np.bincount(vector, minlength=n_vectors) == 0
    reduced, pivot_row = reduced_echelon(matrix)
    echelon = reduced[pivot_row[pivot_row >= 0]]
    echelon_rows, support = np.nonzero(echelon)  # the pivot rows' supports, row by row
    pivot_index = np.full(pivot_row.size, -1, dtype=np.int64)  # per column: its pivot's row of `echelon`
    pivot_index[pivot_row >= 0] = np.arange(echelon.shape[0])
    by_vector = np.argsort(vector, kind="stable")
    return _compiled(_remainder_is_zero)(
        np.searchsorted(vector[by_vector], np.arange(n_vectors + 1)),
        column[by_vector],
        pivot_index,
        np.searchsorted(echelon_rows, np.arange(echelon.shape[0] + 1)),
        support,
        echelon[echelon_rows, support],
        PRIME,
    )


@functools.cache
def _compiled(kernel: Callable) -> Callable:
    """`kernel` compiled to machine code (numba, cached on disk)."""
    import numba

    return numba.njit(cache=True)(kernel)


def _gauss_jordan(reduced: np.ndarray, pivot_columns: int, prime: int) -> np.ndarray:
    """Reduce `reduced` in place (negative entries first to residues); the pivot row of each column.

    The transposed non-zero pattern is kept beside the matrix, so finding the
    rows that hold a column reads contiguous memory.
    """
    n_rows, n_cols = reduced.shape
    row_nonzeros = np.zeros(n_rows, np.int64)
    column_nonzeros = np.zeros(pivot_columns, np.int64)
    nonzero_by_column = np.zeros((n_cols, n_rows), np.bool_)
    for r in range(n_rows):
        for c in range(n_cols):
            if reduced[r, c] != 0:
                if reduced[r, c] < 0:
                    reduced[r, c] += prime
                nonzero_by_column[c, r] = True
                row_nonzeros[r] += 1
                if c < pivot_columns:
                    column_nonzeros[c] += 1
    order = np.argsort(column_nonzeros, kind="mergesort")  # stable: ties in column order
    unused = np.ones(n_rows, np.bool_)
    pivot_row = np.full(n_cols, -1, np.int64)
    holding = np.empty(n_rows, np.int64)
    support = np.empty(n_cols, np.int64)
    for col in order:
        n_holding = 0
        row = -1
        for r in range(n_rows):
            if nonzero_by_column[col, r]:
                holding[n_holding] = r
                n_holding += 1
                if unused[r] and (row < 0 or row_nonzeros[r] < row_nonzeros[row]):
                    row = r
        if row < 0:
            continue
        inverse, base, exponent = 1, reduced[row, col], prime - 2  # a residue's inverse: its power p - 2
        while exponent:
            if exponent & 1:
                inverse = inverse * base % prime
            base = base * base % prime
            exponent >>= 1
        n_support = 0
        for c in range(n_cols):
            if reduced[row, c] != 0:
                reduced[row, c] = reduced[row, c] * inverse % prime
                support[n_support] = c
                n_support += 1
        for h in range(n_holding):
            other = holding[h]
            if other == row:
                continue
            factor = reduced[other, col]
            for s in range(n_support):
                c = support[s]
                before = reduced[other, c]
                after = before - factor * reduced[row, c] % prime
                if after < 0:
                    after += prime
                reduced[other, c] = after
                if before == 0 and after != 0:
                    row_nonzeros[other] += 1
                    nonzero_by_column[c, other] = True
                elif before != 0 and after == 0:
                    row_nonzeros[other] -= 1
                    nonzero_by_column[c, other] = False
        unused[row] = False
        pivot_row[col] = row
    return pivot_row


def _remainder_is_zero(
    vector_starts: np.ndarray,
    vector_columns: np.ndarray,
    pivot_index: np.ndarray,
    echelon_starts: np.ndarray,
    echelon_columns: np.ndarray,
    echelon_values: np.ndarray,
    prime: int,
) -> np.ndarray:
    """Per 0/1 vector, whether v - v[P] R is zero; the vectors and R's pivot rows given sparse (CSR).

    Only the entries a vector or the echelon rows it combines touch are computed,
    in one dense scratch row that is cleared after each vector.
    """
    n_vectors = vector_starts.size - 1
    zero = np.ones(n_vectors, np.bool_)
    rest = np.zeros(pivot_index.size, np.int64)
    touched = np.empty(pivot_index.size, np.int64)
    seen = np.zeros(pivot_index.size, np.bool_)
    for i in range(n_vectors):
        n_touched = 0
        for k in range(vector_starts[i], vector_starts[i + 1]):
            c = vector_columns[k]
            rest[c] = 1
            if not seen[c]:
                seen[c] = True
                touched[n_touched] = c
                n_touched += 1
        for k in range(vector_starts[i], vector_starts[i + 1]):
            j = pivot_index[vector_columns[k]]
            if j < 0:
                continue
            for e in range(echelon_starts[j], echelon_starts[j + 1]):  # coefficient 1
                c = echelon_columns[e]
                after = rest[c] - echelon_values[e]
                if after < 0:
                    after += prime
                rest[c] = after
                if not seen[c]:
                    seen[c] = True
                    touched[n_touched] = c
                    n_touched += 1
        for t in range(n_touched):
            c = touched[t]
            if rest[c] != 0:
                zero[i] = False
            rest[c] = 0
            seen[c] = False
    return zero
