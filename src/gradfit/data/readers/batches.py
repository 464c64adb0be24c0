"""A batch's float64 columns as the ``(X, Y, s)`` a backend hands on: views where the
columns allow, one copy of whole columns otherwise.
"""

from __future__ import annotations

import numpy as np

from gradfit.model.columns import Columns

__all__ = ["feature_columns", "matrix_of_rows", "to_arrays"]


def _consecutive(rows) -> slice | None:
    """``rows`` as a slice when they are consecutive and ascending, else None."""
    rows = np.asarray(rows, dtype=np.intp)
    if len(rows) and (rows == np.arange(rows[0], rows[0] + len(rows))).all():
        return slice(int(rows[0]), int(rows[0]) + len(rows))
    return None


def matrix_of_rows(T: np.ndarray, rows) -> np.ndarray:
    """The (m, len(rows)) matrix of the rows ``rows`` of the C-order (c, m) array ``T`` (a
    batch's columns stored one after the other), column-major: a view of ``T`` when the rows
    are consecutive, else one copy of whole rows (memcpy-fast).

    Column-major on purpose: a transposition to row-major cost more than the gradient pass
    itself (``np.take(T.T, rows, axis=1)``: 0.36 s per 2e6 x 21 values).  The backend makes
    the blocks it serves row-major one cache-sized block at a time, on the consumer's
    thread, or hands them on as they are to a kernel that reads any layout."""
    run = _consecutive(rows)
    return T[run].T if run is not None else T[np.asarray(rows, dtype=np.intp)].T


def _split(T: np.ndarray, where, d: int, k: int, weight) -> tuple:
    """(X (m, d), Y (m, k), s (m,) or None) from the C-order (c, m) array ``T`` of a batch's
    columns: ``where`` gives the row of ``T`` of each feature, target, then the weight."""
    return (matrix_of_rows(T, where[:d]), matrix_of_rows(T, where[d:d + k]),
            T[where[d + k]] if weight else None)


def feature_columns(T: np.ndarray, rows) -> Columns:
    """The features, rows ``rows`` of ``T``, as :class:`Columns` (no copy)."""
    run = _consecutive(rows)
    return Columns(T[run] if run is not None else [T[i] for i in rows])


def to_arrays(columns, m: int, d: int, k: int, weight) -> tuple:
    """(X (m, d), Y (m, k), s (m,) or None) filled from the batch's float columns, in the
    plan's order: features, targets, then the weight."""
    columns = list(columns)
    T = np.empty((len(columns), m))
    for j, col in enumerate(columns):
        T[j] = col
    return _split(T, range(len(columns)), d, k, weight)
