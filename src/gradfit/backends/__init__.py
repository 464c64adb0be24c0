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

__all__ = ["InMemory", "add"]


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

    def map_reduce(self, fn, combine=add):
        return fn(self.X, self.y, self.sw)

    def minibatches(self, batch_size, rng):
        order = rng.permutation(self.n)
        for start in range(0, self.n, batch_size):
            idx = np.sort(order[start:start + batch_size])
            yield self.X[idx], self.y[idx], None if self.sw is None else self.sw[idx]
