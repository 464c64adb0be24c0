"""Where the data lives, seen by the maths only through ``map_reduce``.

A backend holds (X, y, s) somewhere — in memory, in files, on a Dask cluster — and offers

    n, d, k, S (sum of weights), dtype
    map_reduce(fn, combine=add) -> fn applied to every block (X_b, y_b, s_b), combined
                                   in a fixed order (bit-identical results)
    minibatches(batch_size, rng) -> iterator of shuffled (X_b, y_b, s_b)   (optional)

``fn`` returns a tuple of small arrays (d-sized vectors, d x d matrices): only those cross
from a backend to the loop.  ``y`` is (n_b, k); ``s`` is None for unit weights.
"""

from __future__ import annotations

import numpy as np

__all__ = ["InMemory", "RowSubset", "add"]


def add(a, b):
    """Elementwise sum of two tuples of arrays (the default combine)."""
    return tuple(x + y for x, y in zip(a, b))


class InMemory:
    """numpy arrays in memory: one block, the kernel does its own cache blocking."""

    def __init__(self, X, y, sw):
        self.X, self.y, self.sw = X, y, sw
        self.n, self.d = X.shape
        self.k = y.shape[1]
        self.S = float(self.n if sw is None else sw.sum())
        self.dtype = X.dtype

    def map_reduce(self, fn, combine=add, any_layout=False):
        return fn(self.X, self.y, self.sw)

    def minibatches(self, batch_size, rng):
        order = rng.permutation(self.n)
        for start in range(0, self.n, batch_size):
            idx = np.sort(order[start:start + batch_size])
            yield self.X[idx], self.y[idx], None if self.sw is None else self.sw[idx]


class RowSubset(InMemory):
    """The rows of in-memory arrays where ``mask`` is True, without copying X: each pass
    walks X in row blocks and gives the other rows weight 0 (they add nothing to any sum).
    Early stopping holds out its validation rows this way, so a fit never copies X."""

    BLOCK = 65536

    def __init__(self, X, y, sw, mask):
        self.X, self.y, self.sw, self.mask = X, y, sw, np.asarray(mask, dtype=bool)
        self.n, self.d = int(self.mask.sum()), X.shape[1]
        self.k = y.shape[1]
        self.S = float(self.n if sw is None else sw[self.mask].sum())
        self.dtype = X.dtype

    def _weights(self, start, stop):
        w = self.mask[start:stop].astype(float)
        return w if self.sw is None else w * self.sw[start:stop]

    def map_reduce(self, fn, combine=add, any_layout=False):
        out = None
        for start in range(0, self.X.shape[0], self.BLOCK):
            stop = start + self.BLOCK
            part = fn(self.X[start:stop], self.y[start:stop], self._weights(start, stop))
            out = part if out is None else combine(out, part)
        return out

    def minibatches(self, batch_size, rng):
        order = np.flatnonzero(self.mask)
        rng.shuffle(order)  # in place: the same stream as rng.permutation(order), one array
        for start in range(0, self.n, batch_size):
            idx = np.sort(order[start:start + batch_size])
            yield self.X[idx], self.y[idx], None if self.sw is None else self.sw[idx]
