"""What a source of rows must offer the maths: the Backend protocol.

The objective, the solvers and the closed form see the data only through it, so arrays in
memory, CSV/Parquet files and a Dask cluster are interchangeable (``gradfit.data``):

    n, d, k        rows, features, targets
    S              the sum of the sample weights
    dtype          the features' type
    capabilities   what else it can do (:class:`Capabilities`), so callers never probe
    map_reduce(fn, combine=add, any_layout=False)
                   fn(X_b, y_b, s_b) -> tuple of small arrays on every block, combined in a
                   fixed order (bit-identical results); y_b is (n_b, k), s_b None for unit
                   weights; ``any_layout`` lets a kernel that reads any layout take the
                   backend's own column buffers
    minibatches(batch_size, rng)
                   shuffled (X_b, y_b, s_b) batches of one epoch
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Backend", "Capabilities", "InMemory", "RowSubset", "add", "capabilities"]


def add(a, b):
    """Elementwise sum of two tuples of arrays (the default combine)."""
    return tuple(x + y for x, y in zip(a, b))


@dataclass(frozen=True)
class Capabilities:
    """What a backend offers beyond the protocol.

    Attributes
    ----------
    in_memory : bool
        Its rows are numpy arrays in this process (``X``, ``y``, ``sw``; a ``mask`` for a row
        subset): the compiled mini-batch epoch can run over them.
    cache : bool
        ``use_cache(folder)`` keeps the parsed rows for later passes and runs.
    fingerprint : bool
        ``fingerprint()`` identifies the data (checkpoints compare it) and ``summary()``
        describes the passes made.
    any_layout : bool
        ``map_reduce(..., any_layout=True)`` hands the backend's own column buffers.
    target_mean : bool
        ``target_mean`` (the targets' weighted means) is known without a pass.
    sequential : bool
        ``map_reduce`` calls ``fn`` in this process on the blocks in row order, so that a
        pass can also take an order-dependent digest of the rows.
    sparse : bool
        ``map_reduce`` hands X as a scipy.sparse CSR matrix (``gradfit.data.sparse``): the
        passes read it through ``gradfit.model.sparse`` and the CSR kernels.
    """

    in_memory: bool = False
    cache: bool = False
    fingerprint: bool = False
    any_layout: bool = False
    target_mean: bool = False
    sequential: bool = False
    sparse: bool = False


@runtime_checkable
class Backend(Protocol):
    n: int
    d: int
    k: int
    S: float
    capabilities: Capabilities

    def map_reduce(self, fn: Callable, combine: Callable = add,
                   any_layout: bool = False) -> tuple: ...

    def minibatches(self, batch_size: int, rng) -> Iterator[tuple]: ...


def capabilities(data) -> Capabilities:
    """``data.capabilities``, or none beyond the protocol for a backend that declares none."""
    return getattr(data, "capabilities", None) or Capabilities()


# --------------------------------------------------------------------------- in memory


class InMemory:
    """numpy arrays in memory: one block, the kernel does its own cache blocking."""

    capabilities = Capabilities(in_memory=True, sequential=True)

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
