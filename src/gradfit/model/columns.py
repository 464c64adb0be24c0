"""Rows of a matrix whose columns are held apart, read in place.

A Parquet row group decodes into one buffer per column.  Copying those columns into an
(m, d) matrix before the gradient pass cost about as much as decoding them (a strided
transposition of every value); :class:`Columns` hands the buffers on as they are, and the
compiled kernel (:mod:`gradfit.model.kernels_numba`) reads them in place.  Anything else that
needs a matrix gets one through ``np.asarray`` (row-major, a copy).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Columns"]


class Columns:
    """Rows ``start:stop`` of the matrix whose column j is ``columns[j]``.

    Parameters
    ----------
    columns : sequence of ndarray, or ndarray of shape (d, n)
        Equal-length 1-D float64 arrays, one per column (or the rows of a C-order 2-D
        array, which the kernel reads as it is).
    start, stop : int
        The rows this object stands for (``stop`` None: all).

    Notes
    -----
    Slicing rows (``cols[a:b]``) gives another :class:`Columns` over the same buffers; the
    numba list of the columns is built once and shared by the slices.
    """

    __slots__ = ("columns", "start", "stop", "_shared")
    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, columns, start: int = 0, stop: int | None = None, _shared=None):
        self.columns = columns
        n = len(columns[0]) if len(columns) else 0
        self.start, self.stop = int(start), n if stop is None else int(stop)
        self._shared = _shared if _shared is not None else [None]

    @property
    def shape(self) -> tuple[int, int]:
        return self.stop - self.start, len(self.columns)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, rows):
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            return np.asarray(self)[rows]
        start, stop, _ = rows.indices(len(self))
        return Columns(self.columns, self.start + start, self.start + max(start, stop),
                       self._shared)

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape)
        for j, col in enumerate(self.columns):
            out[:, j] = col[self.start:self.stop]
        return out if dtype is None else out.astype(dtype, copy=False)

    def numba_columns(self):
        """The columns as the compiled kernel takes them: the 2-D array itself, or a
        numba typed list of the 1-D arrays (built on first use, about 50 us for 20)."""
        if isinstance(self.columns, np.ndarray):
            return self.columns
        if self._shared[0] is None:
            from numba.typed import List

            self._shared[0] = List(self.columns)
        return self._shared[0]

    def __repr__(self) -> str:
        return f"Columns(rows {self.start}:{self.stop} of {len(self.columns)} columns)"
