"""scipy.sparse rows in memory as a backend: :class:`SparseBackend`.

X is held as one CSR matrix (a CSC input is converted once: O(nnz)), never densified:
``map_reduce`` hands it whole to the pass (the CSR kernels of ``gradfit.model.kernels_sparse``
and the sparse forms of ``gradfit.model.sparse`` read it), ``minibatches`` the CSR rows of
each batch.  With a ``mask`` it is a row subset (early stopping's training or validation
rows) with the semantics of ``gradfit.model.backend.RowSubset``: the other rows weigh 0 in
every pass and the batches are drawn from the same generator stream, so a sparse fit
follows the dense fit of the same data step for step.
"""

from __future__ import annotations

import numpy as np

from gradfit.exceptions import InputError
from gradfit.model.backend import Capabilities, add
from gradfit.model.sparse import as_csr, is_sparse

__all__ = ["SparseBackend", "check_sparse", "is_sparse"]


def check_sparse(X, feature_names=None):
    """A validated CSR float matrix (float32 or float64, canonical indices) from a
    scipy.sparse X: numeric, 2-D, at least one row and column, every stored value finite
    (else an InputError naming the row, column and value)."""
    if X.dtype.kind == "c":
        raise InputError("Complex data not supported: X is complex")
    if X.ndim != 2:
        raise InputError(f"X must be 2-dimensional (n_samples, n_features); got shape {X.shape}")
    if X.dtype not in (np.float64, np.float32):
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"X must be numeric: {exc}") from None
    X = as_csr(X)
    n, d = X.shape
    if n == 0:
        raise InputError("X has 0 rows: there is nothing to fit")
    if d == 0:
        raise InputError("X has 0 feature columns")
    bad = ~np.isfinite(X.data)
    if bad.any():
        t = int(np.argmax(bad))
        row = int(np.searchsorted(X.indptr, t, side="right") - 1)
        col = int(X.indices[t])
        label = (f"column {col} ({feature_names[col]!r})" if feature_names is not None
                 and col < len(feature_names) else f"column {col}")
        raise InputError(
            f"X contains NaN or inf: {int(bad.sum())} value(s), the first at row {row}, "
            f"{label} = {float(X.data[t])!r}; drop or impute them before fitting")
    return X


class SparseBackend:
    """A CSR matrix X (n, d), targets y (n, k) and weights sw (n,) or None in memory; with
    ``mask`` only the rows where it is True (see the module docstring)."""

    capabilities = Capabilities(sparse=True)

    def __init__(self, X, y, sw, mask=None):
        self.X, self.y, self.sw = as_csr(X), y, sw
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        rows = self.X.shape[0]
        self.n = rows if self.mask is None else int(self.mask.sum())
        self.d = self.X.shape[1]
        self.k = y.shape[1]
        if self.mask is None:
            self.S = float(rows if sw is None else sw.sum())
        else:
            self.S = float(self.n if sw is None else sw[self.mask].sum())
        self.dtype = self.X.dtype

    @property
    def nnz(self) -> int:
        """Stored values of X."""
        return int(self.X.nnz)

    def weights(self):
        """The weights of every row of X as the passes see them (0 outside the mask)."""
        if self.mask is None:
            return self.sw
        w = self.mask.astype(float)
        return w if self.sw is None else w * self.sw

    def map_reduce(self, fn, combine=add, any_layout=False):
        """fn(X, y, s) on the whole CSR matrix (one block)."""
        return fn(self.X, self.y, self.weights())

    def order(self, rng):
        """The epoch's row order: as ``InMemory``/``RowSubset.minibatches`` draw it."""
        if self.mask is None:
            return rng.permutation(self.n)
        order = np.flatnonzero(self.mask)
        rng.shuffle(order)
        return order

    def minibatches(self, batch_size, rng):
        order = self.order(rng)
        for start in range(0, self.n, batch_size):
            idx = np.sort(order[start:start + batch_size])
            yield self.X[idx], self.y[idx], None if self.sw is None else self.sw[idx]
