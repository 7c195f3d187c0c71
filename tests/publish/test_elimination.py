"""The compiled elimination against floating-point linear algebra on small random matrices."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipelines.publish.elimination import PRIME, covers_in_row_space, reduced_echelon

shapes = st.tuples(st.integers(1, 12), st.integers(1, 12))
matrices = shapes.flatmap(lambda shape: arrays(np.int64, shape, elements=st.integers(-1, 1)))


def in_float_row_space(matrix: np.ndarray, vector: np.ndarray) -> bool:
    solution = np.linalg.lstsq(matrix.T.astype(float), vector.astype(float), rcond=None)[0]
    return bool(np.allclose(matrix.T @ solution, vector, atol=1e-8))


@settings(max_examples=200, deadline=None, database=None)
@given(matrices)
def test_reduced_echelon_form_spans_the_same_rows(matrix: np.ndarray) -> None:
    reduced, pivot_row = reduced_echelon(matrix.copy())  # reduced in place
    pivots = np.flatnonzero(pivot_row >= 0)

    assert pivots.size == np.linalg.matrix_rank(matrix.astype(float))
    echelon = reduced[pivot_row[pivots]]
    assert np.array_equal(echelon[:, pivots], np.eye(pivots.size, dtype=np.int64))  # unit vectors on the pivots
    assert not np.delete(reduced, pivot_row[pivots], axis=0).any()  # every other row is eliminated
    signed = np.where(echelon > PRIME // 2, echelon - PRIME, echelon)  # small entries: back to signed integers
    if signed.size and np.abs(signed).max() < 100:
        assert np.linalg.matrix_rank(np.vstack([matrix, signed]).astype(float)) == pivots.size


@settings(max_examples=100, deadline=None, database=None)
@given(matrices, st.data())
def test_pivots_only_in_the_columns_allowed(matrix: np.ndarray, data: st.DataObject) -> None:
    allowed = data.draw(st.integers(0, matrix.shape[1]))
    _, pivot_row = reduced_echelon(matrix.copy(), pivot_columns=allowed)
    assert not (pivot_row[allowed:] >= 0).any()
    expected = np.linalg.matrix_rank(matrix[:, :allowed].astype(float)) if allowed else 0
    assert (pivot_row >= 0).sum() == expected


@settings(max_examples=200, deadline=None, database=None)
@given(matrices, st.data())
def test_row_space_membership_of_0_1_vectors(matrix: np.ndarray, data: st.DataObject) -> None:
    n_cols = matrix.shape[1]
    vectors = np.array(data.draw(st.lists(st.lists(st.integers(0, 1), min_size=n_cols, max_size=n_cols), max_size=8)))
    vectors = vectors.reshape(-1, n_cols)
    rows = np.flatnonzero(data.draw(arrays(np.bool_, matrix.shape[0])))
    if rows.size and np.isin(matrix[rows].sum(axis=0), (0, 1)).all():
        vectors = np.vstack([vectors, matrix[rows].sum(axis=0)])  # a 0/1 combination: in the row space

    vector, column = np.nonzero(vectors)
    found = covers_in_row_space(matrix.copy(), vector, column, n_vectors=vectors.shape[0])

    assert found.tolist() == [in_float_row_space(matrix, v) for v in vectors]
