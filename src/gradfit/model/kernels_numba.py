"""Compiled one-pass value-and-gradient kernel (optional, needs numba: ``gradfit[fast]``).

Same contract as :func:`gradfit.model.kernels.value_grad` (see docs/CORE_API.md, "Pass kernel")::

    value_grad(X, y, sw, mu, v, b, loss, epsilon) -> (loss_sum (k,), gz (d, k), gb (k,))

One pass over ``X``: each row is centred, predicted and folded into the gradient while it
is in L1 cache; nothing the size of ``X`` is ever allocated.  ``X`` may be float64 or
float32 (read as stored, accumulated in float64), row-major, column-major (or a row slice
of it), any strided view, or a :class:`gradfit.model.columns.Columns` (columns held apart, as a
Parquet reader decodes them: read in place).  Row-major X goes through a row-wise kernel,
the column-major kinds through a column-wise one that gives the same bits.  Nothing blocks
Python's other threads while a kernel runs (``nogil``): a file reader parses ahead.

Determinism: rows are cut into blocks of :data:`BLOCK_ROWS` (a constant, so the partition
depends on ``n`` only, never on the thread count); each block's partial sums go to their
own slot and the slots are added by a fixed pairwise tree.  With ``fastmath`` off, the
result is bit-identical for any ``numba.set_num_threads``, and identical between the
layouts of the same data.  Below :data:`PARALLEL_MIN_CELLS` cells the same blocks run on
the calling thread (waking numba's threads costs more than such a pass; on a busy 2-core
machine a 1e5 x 20 pass took 1.1 ms on one thread and 3-10 ms on two).

Inside a block the summation order is fixed as follows (both layouts):
- prediction: ``p = (sum_j (x_j - mu_j) * v_j, j = 0..d-1) + b``;
- rows go in tiles of 4: ``g_j += c0*xc0_j + c1*xc1_j + c2*xc2_j + c3*xc3_j`` (left to
  right), then the leftover rows one at a time; loss and ``gb`` are added row by row.

When numba is missing, :func:`available` is False and :func:`value_grad` falls back to the
pure-numpy kernel in :mod:`gradfit.model.kernels`.
"""

from __future__ import annotations

import numpy as np

from gradfit.model.columns import Columns

__all__ = ["BLOCK_ROWS", "available", "value_grad", "warmup"]

BLOCK_ROWS = 4096  # rows per parallel block; fixed so that results never depend on threads
PARALLEL_MIN_CELLS = 1 << 22  # smaller X runs on the calling thread (same blocks, same bits):
# waking numba's threads costs more than such a pass (about 2 ms), and far more on a busy machine
_TILE = 4
# only prange is parallelised (fewer parfor passes to compile); nothing else is rewritten
_PARALLEL = {"prange": True, "comprehension": False, "setitem": False, "reduction": False,
             "numpy": False, "stencil": False, "fusion": False, "inplace_binop": False}
_LOSS_CODE = {"squared": 0, "huber": 1}

try:  # numba is optional
    import numba
    from numba import njit, prange
except Exception:  # pragma: no cover - exercised in a subprocess test
    numba = None


def available() -> bool:
    """True when numba is importable, so :func:`value_grad` runs compiled."""
    return numba is not None


if numba is not None:

    @njit(cache=True, fastmath=False, nogil=True)
    def _dloss(r, s, loss, eps):
        """(s * loss(r), s * dloss/dp) for one residual r = y - p."""
        if loss == 0 or abs(r) <= eps:
            return s * (r * r), s * (-2.0 * r)
        if r > 0:
            return s * (2.0 * eps * r - eps * eps), s * (-2.0 * eps)
        return s * (-2.0 * eps * r - eps * eps), s * (2.0 * eps)

    @njit(cache=True, fastmath=False, nogil=True)
    def _block_c(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0, i1, acc):
        """Rows i0:i1 of a row-major X into acc (k, d + 2): [gz | gb | loss_sum]."""
        d = X.shape[1]
        k = vT.shape[0]
        i = i0
        while i + _TILE <= i1:
            for q in range(k):
                p0 = 0.0
                p1 = 0.0
                p2 = 0.0
                p3 = 0.0
                for j in range(d):
                    m = mu[j]
                    vj = vT[q, j]
                    p0 += (X[i, j] - m) * vj
                    p1 += (X[i + 1, j] - m) * vj
                    p2 += (X[i + 2, j] - m) * vj
                    p3 += (X[i + 3, j] - m) * vj
                bq = b[q]
                s0 = sw[i] if has_w else 1.0
                s1 = sw[i + 1] if has_w else 1.0
                s2 = sw[i + 2] if has_w else 1.0
                s3 = sw[i + 3] if has_w else 1.0
                y0 = Y[i, q] if has_y else 0.0
                y1 = Y[i + 1, q] if has_y else 0.0
                y2 = Y[i + 2, q] if has_y else 0.0
                y3 = Y[i + 3, q] if has_y else 0.0
                l0, c0 = _dloss(y0 - (p0 + bq), s0, loss, eps)
                l1, c1 = _dloss(y1 - (p1 + bq), s1, loss, eps)
                l2, c2 = _dloss(y2 - (p2 + bq), s2, loss, eps)
                l3, c3 = _dloss(y3 - (p3 + bq), s3, loss, eps)
                a = acc[q]
                a[d + 1] += l0
                a[d + 1] += l1
                a[d + 1] += l2
                a[d + 1] += l3
                a[d] += c0
                a[d] += c1
                a[d] += c2
                a[d] += c3
                for j in range(d):
                    m = mu[j]
                    a[j] += (c0 * (X[i, j] - m) + c1 * (X[i + 1, j] - m)
                             + c2 * (X[i + 2, j] - m) + c3 * (X[i + 3, j] - m))
            i += _TILE
        while i < i1:
            s = sw[i] if has_w else 1.0
            for q in range(k):
                p = 0.0
                for j in range(d):
                    p += (X[i, j] - mu[j]) * vT[q, j]
                yq = Y[i, q] if has_y else 0.0
                lq, c = _dloss(yq - (p + b[q]), s, loss, eps)
                a = acc[q]
                a[d + 1] += lq
                a[d] += c
                for j in range(d):
                    a[j] += c * (X[i, j] - mu[j])
            i += 1

    @njit(cache=True, fastmath=False, nogil=True)
    def _block_cols(cols, r0, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0, i1, acc):
        """Rows r0 + i0 : r0 + i1 of X held as columns (``cols[j]``: column j, 1-D; a 2-D
        array (d, n) -- X.T of a column-major X -- or a list of arrays), with ``Y`` and
        ``sw`` indexed from r0.  Column sweeps over the block (it sits in L2), with exactly
        the summation order of _block_c, hence the same bits; two columns at a time in the
        gradient sweep, whose per-column sums are chains of dependent additions."""
        d = len(cols)
        k = vT.shape[0]
        nb = i1 - i0
        o = r0 + i0
        P = np.zeros((k, nb))
        C = np.empty((k, nb))
        for q in range(k):
            Pq = P[q]
            j = 0
            while j + 4 <= d:  # four column streams at once: 1.35x faster from memory
                x0 = cols[j][o:o + nb]
                x1 = cols[j + 1][o:o + nb]
                x2 = cols[j + 2][o:o + nb]
                x3 = cols[j + 3][o:o + nb]
                m0, m1, m2, m3 = mu[j], mu[j + 1], mu[j + 2], mu[j + 3]
                v0, v1, v2, v3 = vT[q, j], vT[q, j + 1], vT[q, j + 2], vT[q, j + 3]
                for t in range(nb):
                    p = Pq[t]
                    p += (x0[t] - m0) * v0
                    p += (x1[t] - m1) * v1
                    p += (x2[t] - m2) * v2
                    p += (x3[t] - m3) * v3
                    Pq[t] = p
                j += 4
            while j < d:
                x = cols[j][o:o + nb]
                m = mu[j]
                vj = vT[q, j]
                for t in range(nb):
                    Pq[t] += (x[t] - m) * vj
                j += 1
        for q in range(k):
            a = acc[q]
            bq = b[q]
            for t in range(nb):
                s = sw[i0 + t] if has_w else 1.0
                yq = Y[i0 + t, q] if has_y else 0.0
                lq, c = _dloss(yq - (P[q, t] + bq), s, loss, eps)
                a[d + 1] += lq
                a[d] += c
                C[q, t] = c
        ntile = nb - nb % _TILE
        for q in range(k):
            a = acc[q]
            Cq = C[q]
            j = 0
            while j < d:
                two = j + 1 < d
                x0 = cols[j][o:o + nb]
                x1 = cols[j + 1][o:o + nb] if two else x0
                m0 = mu[j]
                m1 = mu[j + 1] if two else m0
                g0 = a[j]
                g1 = a[j + 1] if two else 0.0
                for t in range(0, ntile, _TILE):
                    g0 += (Cq[t] * (x0[t] - m0) + Cq[t + 1] * (x0[t + 1] - m0)
                           + Cq[t + 2] * (x0[t + 2] - m0) + Cq[t + 3] * (x0[t + 3] - m0))
                    g1 += (Cq[t] * (x1[t] - m1) + Cq[t + 1] * (x1[t + 1] - m1)
                           + Cq[t + 2] * (x1[t + 2] - m1) + Cq[t + 3] * (x1[t + 3] - m1))
                for t in range(ntile, nb):
                    g0 += Cq[t] * (x0[t] - m0)
                    g1 += Cq[t] * (x1[t] - m1)
                a[j] = g0
                if two:
                    a[j + 1] = g1
                j += 2

    @njit(cache=True, fastmath=False, nogil=True)
    def _reduce(partials):
        """Sum partials (nblk, k, d + 2) over blocks by a fixed pairwise tree (in place)."""
        nb = partials.shape[0]
        while nb > 1:
            half = (nb + 1) // 2
            for i in range(nb - half):
                partials[i] += partials[i + half]
            nb = half
        return partials[0]

    @njit(cache=True, fastmath=False, nogil=True, parallel=_PARALLEL)
    def _par_c(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps):
        """Row-major X (or any strided view): blocks in parallel, fixed pairwise sum."""
        n = X.shape[0]
        nblk = (n + BLOCK_ROWS - 1) // BLOCK_ROWS
        partials = np.zeros((nblk, vT.shape[0], X.shape[1] + 2))
        for blk in prange(nblk):
            i0 = blk * BLOCK_ROWS
            _block_c(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0,
                     min(n, i0 + BLOCK_ROWS), partials[blk])
        return _reduce(partials)

    @njit(cache=True, fastmath=False, nogil=True)
    def _ser_c(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps):
        """_par_c on the calling thread: the same blocks and sums, hence the same bits."""
        n = X.shape[0]
        nblk = (n + BLOCK_ROWS - 1) // BLOCK_ROWS
        partials = np.zeros((nblk, vT.shape[0], X.shape[1] + 2))
        for blk in range(nblk):
            i0 = blk * BLOCK_ROWS
            _block_c(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0,
                     min(n, i0 + BLOCK_ROWS), partials[blk])
        return _reduce(partials)

    @njit(cache=True, fastmath=False, nogil=True, parallel=_PARALLEL)
    def _par_cols(cols, r0, n, Y, has_y, sw, has_w, mu, vT, b, loss, eps):
        """Rows r0 : r0 + n of X held as columns: as _par_c with the column-sweep block."""
        nblk = (n + BLOCK_ROWS - 1) // BLOCK_ROWS
        partials = np.zeros((nblk, vT.shape[0], len(cols) + 2))
        for blk in prange(nblk):
            i0 = blk * BLOCK_ROWS
            _block_cols(cols, r0, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0,
                        min(n, i0 + BLOCK_ROWS), partials[blk])
        return _reduce(partials)

    @njit(cache=True, fastmath=False, nogil=True)
    def _ser_cols(cols, r0, n, Y, has_y, sw, has_w, mu, vT, b, loss, eps):
        nblk = (n + BLOCK_ROWS - 1) // BLOCK_ROWS
        partials = np.zeros((nblk, vT.shape[0], len(cols) + 2))
        for blk in range(nblk):
            i0 = blk * BLOCK_ROWS
            _block_cols(cols, r0, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0,
                        min(n, i0 + BLOCK_ROWS), partials[blk])
        return _reduce(partials)


_ONE = np.ones(1)
_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)


def _f64(a):
    """a as a C-contiguous float64 array, without a copy when it already is one."""
    if type(a) is np.ndarray and a.dtype == _F64 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=_F64)


def value_grad(X, y, sw, mu, v, b, loss="squared", epsilon=1.35):
    """Loss sum and gradient of ``sum_i s_i loss(y_i, (x_i - mu) . v + b)`` in one pass.

    Returns ``(loss_sum (k,), gz (d, k), gb (k,))`` (views into one fresh array); see
    docs/CORE_API.md.  As in :mod:`gradfit.model.kernels`, ``y=None`` means y = 0 and
    ``mu=None`` means no centring.
    """
    if numba is None:
        from gradfit.model import kernels  # the pure-numpy kernel, same contract

        return kernels.value_grad(X, y, sw, mu, v, b, loss, epsilon)
    cols, r0 = None, 0
    if isinstance(X, Columns):  # columns held apart: read in place, no (n, d) copy
        cols, r0 = X.numba_columns(), X.start
    elif type(X) is not np.ndarray or (X.dtype != _F64 and X.dtype != _F32):
        X = np.asarray(X)
        if X.dtype != _F64 and X.dtype != _F32:
            X = X.astype(_F64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    n, d = X.shape
    if cols is None and d > 1 and X.strides[0] == X.itemsize:  # column-major (or a row
        cols = X.T  # slice of it): columns are rows of X.T
    v = _f64(v)
    k = v.shape[1] if v.ndim == 2 else 1
    vT = v.reshape(d, k).T
    if k > 1:
        vT = np.ascontiguousarray(vT)
    has_y = y is not None
    Y = _f64(y).reshape(n, k) if has_y else _ONE.reshape(1, 1)
    mu = np.zeros(d) if mu is None else _f64(mu).reshape(d)
    code = _LOSS_CODE.get(loss)
    if code is None:
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(_LOSS_CODE)}")
    has_w = sw is not None
    s = _f64(sw).reshape(n) if has_w else _ONE
    parallel = n > BLOCK_ROWS and n * d >= PARALLEL_MIN_CELLS and numba.get_num_threads() > 1
    rest = (Y, has_y, s, has_w, mu, vT, _f64(b).reshape(k), code, float(epsilon))
    if cols is not None:
        acc = (_par_cols if parallel else _ser_cols)(cols, r0, n, *rest)
    else:
        acc = (_par_c if parallel else _ser_c)(X, *rest)
    return acc[:, d + 1], acc[:, :d].T, acc[:, d]


value_grad.reads_any_layout = numba is not None  # Columns, column-major: see the module doc


def warmup() -> float:
    """Compile (or load from the on-disk cache) the row-major float64 and float32 kernels,
    serial and parallel, and the serial column kernel over float64 :class:`Columns` (what
    a file's passes use); return the seconds it took."""
    import time

    if numba is None:
        return 0.0
    t = time.perf_counter()
    for dt in (np.float64, np.float32):
        X = np.ones((3, 2), dtype=dt)
        args = (X, np.ones((3, 1)), True, _ONE, False, np.zeros(2), np.ones((1, 2)),
                np.zeros(1), 0, 1.0)
        _ser_c(*args)
        _par_c(*args)
    column = np.ones(3)
    column.flags.writeable = False  # as pyarrow's buffers are
    value_grad(Columns([column, column]), column[:, None], None, np.zeros(2), np.ones((2, 1)),
               np.zeros(1))
    return time.perf_counter() - t
