"""Mergeable weighted sufficient statistics of row blocks: the Gram matrix of ``[X, y]``.

One pass over any backend (``map_reduce`` with :meth:`GramStats.merge` as the combine) gives
the centred cross products, from which the closed form, the whitening preconditioner of the
gradient solvers, the exact Lipschitz constant and the optimality certificate all follow.

With ``Z = [X, y]`` (``d + k`` columns) and weights ``s``,

    mean  = sum_i s_i z_i / W,          W = sum_i s_i
    cross = sum_i s_i (z_i - mean)(z_i - mean)'

Two sets merge exactly (Chan, Golub & LeVeque 1979):

    W = W_a + W_b,  delta = m_b - m_a,  m = m_a + delta W_b / W,
    M = M_a + M_b + (W_a W_b / W) delta delta'.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gradfit.model.sparse import gram_stats as sparse_gram_stats
from gradfit.model.sparse import is_sparse

__all__ = ["GramStats", "accumulate_stats", "block_stats", "default_block_rows", "gram_pass",
           "iter_blocks", "stats_threads"]

_BLOCK_BYTES = 2**20  # about 1 MiB of float64 per row block


class GramStats(NamedTuple):
    """Mergeable weighted sufficient statistics of a block of rows ``(X, y, s)``.

    With ``Z = [X, y]`` (``d + k`` columns), ``mean = sum_i s_i z_i / weight`` and
    ``cross = sum_i s_i (z_i - mean)(z_i - mean)'``.  Two sets of statistics merge exactly
    (Chan, Golub & LeVeque):

    .. math::

        W = W_a + W_b, \\quad \\delta = m_b - m_a, \\quad m = m_a + \\delta W_b / W, \\quad
        M = M_a + M_b + \\frac{W_a W_b}{W} \\delta \\delta^\\top .

    Attributes
    ----------
    n_rows : int
        Rows seen (including zero-weight rows).
    weight : float
        Sum of the sample weights.
    mean : ndarray of shape (d + k,)
        Weighted means of the columns of ``X`` then ``y``.
    cross : ndarray of shape (d + k, d + k)
        Centred weighted cross-product matrix.
    n_features : int
        ``d``.
    y_1d : bool
        Whether ``y`` was one-dimensional (shapes of the solution follow it).
    """

    n_rows: int
    weight: float
    mean: np.ndarray
    cross: np.ndarray
    n_features: int
    y_1d: bool

    @property
    def mean_x(self) -> np.ndarray:
        return self.mean[: self.n_features]

    @property
    def mean_y(self) -> np.ndarray:
        return self.mean[self.n_features:]

    @property
    def gram(self) -> np.ndarray:
        """Centred ``X' S X``, shape (d, d)."""
        return self.cross[: self.n_features, : self.n_features]

    @property
    def xty(self) -> np.ndarray:
        """Centred ``X' S y``, shape (d, k)."""
        return self.cross[: self.n_features, self.n_features:]

    @property
    def yty(self) -> np.ndarray:
        """Centred ``y' S y``, shape (k, k)."""
        return self.cross[self.n_features:, self.n_features:]

    @classmethod
    def empty(cls, n_features: int, n_targets: int = 1, y_1d: bool = True) -> GramStats:
        """Statistics of no rows (the neutral element of :meth:`merge`)."""
        width = n_features + n_targets
        return cls(0, 0.0, np.zeros(width), np.zeros((width, width)), n_features, y_1d)

    def merge(self, other: GramStats) -> GramStats:
        """Statistics of the union of the two sets of rows."""
        if (self.n_features, self.y_1d, self.mean.shape) != (
                other.n_features, other.y_1d, other.mean.shape):
            raise ValueError("cannot merge statistics of differently shaped data")
        n_rows = self.n_rows + other.n_rows
        if other.weight == 0:
            return self._replace(n_rows=n_rows)
        if self.weight == 0:
            return other._replace(n_rows=n_rows)
        weight = self.weight + other.weight
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.weight / weight)
        cross = self.cross + other.cross + (self.weight * other.weight / weight) * np.outer(
            delta, delta)
        return GramStats(n_rows, weight, mean, cross, self.n_features, self.y_1d)


def block_stats(X, y, sample_weight=None, out=None) -> GramStats:
    """:class:`GramStats` of one block of rows.

    Each column is shifted by its first value (so constant columns stay exactly constant), then
    centred by its weighted block mean, in a float64 buffer of the block's size; ``X`` and ``y``
    may be float32.  The cross products are then BLAS ``syrk``/``gemm`` on the centred block.

    Parameters
    ----------
    X : ndarray of shape (m, d)
    y : ndarray of shape (m,) or (m, k)
    sample_weight : ndarray of shape (m,) or None
    out : ndarray of shape (>= m, d + k), float64, optional
        Work buffer for the centred ``[X, y]``, reused between blocks.
    """
    m, d = X.shape
    y2 = _as_2d(y)
    k = y2.shape[1]
    weight = float(m) if sample_weight is None else float(np.sum(sample_weight))
    if m == 0 or weight == 0:
        return GramStats.empty(d, k, y.ndim == 1)._replace(n_rows=m)
    if is_sparse(X):  # X'SX - W m m' from the stored values (gradfit.model.sparse)
        weight, mean, cross = sparse_gram_stats(X, y2, sample_weight)
        return GramStats(m, weight, mean, cross, d, y.ndim == 1)
    if out is None or out.shape[0] < m or out.shape[1] != d + k:
        out = np.empty((m, d + k))
    Z = out[:m]
    Z[:, :d] = X  # [X, y] side by side: one syrk gives every cross product
    Z[:, d:] = y2
    s = np.ones(m) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    Zc, mean = _centre(Z, s, weight, Z)
    if sample_weight is not None:
        Zc *= np.sqrt(s)[:, None]
    return GramStats(m, weight, mean, Zc.T @ Zc, d, y.ndim == 1)


def _centre(A, s, weight, out):
    """``(A - mean, mean)`` written into ``out``: shift by the first row, then by the mean."""
    shift = A[0].astype(np.float64)
    Z = np.subtract(A, shift, out=out)
    mean = (s @ Z) / weight
    Z -= mean
    return Z, shift + mean


def accumulate_stats(blocks, threads: int = 1) -> GramStats:
    """Merge :func:`block_stats` over an iterable of ``(X_block, y_block, sw_block)``.

    ``sw_block`` may be None (unit weights).  One pass; memory is one block-sized buffer (per
    thread).  With ``threads > 1`` the blocks' statistics are computed on that many threads
    (numpy and BLAS release the GIL; BLAS pinned to one thread meanwhile) and merged in the
    blocks' order afterwards: the same bits as one thread.
    """
    if threads > 1:
        return _accumulate_threaded(blocks, threads)
    total, buf = None, None
    for Xb, yb, sb in blocks:
        buf = _buffer(buf, Xb, yb)
        stats = block_stats(Xb, yb, sb, out=buf)
        total = stats if total is None else total.merge(stats)
    if total is None:
        raise ValueError("accumulate_stats needs at least one block")
    return total


def _buffer(buf, Xb, yb):
    """A work buffer for ``block_stats`` of this block: ``buf`` when it fits, else a new one."""
    width = Xb.shape[1] + (1 if np.ndim(yb) == 1 else np.shape(yb)[1])
    if buf is None or buf.shape[0] < len(Xb) or buf.shape[1] != width:
        buf = np.empty((len(Xb), width))
    return buf


def _accumulate_threaded(blocks, threads: int) -> GramStats:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gradfit.model.kernels import blas_single_thread

    local = threading.local()

    def stats(block):
        Xb, yb, sb = block
        local.buf = _buffer(getattr(local, "buf", None), Xb, yb)
        return block_stats(Xb, yb, sb, out=local.buf)

    with blas_single_thread(), ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(stats, blocks))
    if not parts:
        raise ValueError("accumulate_stats needs at least one block")
    total = parts[0]
    for part in parts[1:]:  # the blocks' order, as one thread merges them
        total = total.merge(part)
    return total


def iter_blocks(X, y, sample_weight=None, block_rows=None):
    """Yield row blocks ``(X[i:j], y[i:j], sw[i:j])`` (views, no copies; None stays None)."""
    block_rows = block_rows or default_block_rows(X.shape[1])
    for start in range(0, X.shape[0], block_rows):
        rows = slice(start, start + block_rows)
        yield X[rows], _rows(y, rows), _rows(sample_weight, rows)


def _as_2d(y):
    return y[:, None] if y.ndim == 1 else y


def _rows(a, rows):
    return None if a is None else a[rows]


def default_block_rows(n_columns: int) -> int:
    """Rows per block: about 1 MiB of float64 (cache-sized), at least 1024 rows, and for wide
    data at least 4 x the columns (fewer merges of the d x d statistics, BLAS-3 at speed)."""
    return max(1024, 4 * n_columns, _BLOCK_BYTES // (8 * max(n_columns, 1)))


def gram_pass(data) -> GramStats:
    """:class:`GramStats` of all rows of a backend in one pass (cache-sized blocks inside each
    of the backend's blocks, so no copy of X is made), merged in the backend's fixed order.
    A sparse block is one block (its products cost O(nnz), the d x d result is formed once)."""
    (stats,) = data.map_reduce(lambda X, Y, s: (block_stats(X, Y, s) if is_sparse(X) else
                                                accumulate_stats(iter_blocks(X, Y, s),
                                                                 stats_threads(X)),),
                               combine=lambda a, b: (a[0].merge(b[0]),))
    return stats


THREADED_MIN_CELLS = 1 << 21
"""From this many values on, a dense block's Gram statistics are computed on every core
(:func:`accumulate_stats` with threads; the same bits)."""


def stats_threads(X) -> int:
    """Threads for the Gram statistics of dense X: the cores this process may use (at most
    8) from :data:`THREADED_MIN_CELLS` values on, else 1; and 1 off the main thread (a Dask
    worker's task, a caller's own threads: their cores are spoken for)."""
    import os
    import threading

    if X.shape[0] * X.shape[1] < THREADED_MIN_CELLS or \
            threading.current_thread() is not threading.main_thread():
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))
