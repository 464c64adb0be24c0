"""Compiled one-pass value-and-gradient kernel (numba, a core dependency).

Same contract as :func:`gradfit.model.kernels.value_grad` (see docs/CORE_API.md, "Pass kernel")::

    value_grad(X, y, sw, mu, v, b, loss, epsilon) -> (loss_sum (k,), gz (d, k), gb (k,))

One pass over ``X``: rows are centred, predicted and folded into the gradient a tile at a
time while the tile is in L1 cache; nothing the size of ``X`` is ever allocated.  ``X`` may
be float64 or float32 (read as stored, widened exactly to float64: every operation after the
load is the float64 kernel's, so float32 X gives the bits of its float64 copy), row-major,
column-major (or a row slice of it), any strided view, or a
:class:`gradfit.model.columns.Columns` (columns held apart, as a Parquet reader decodes
them: read in place).  Row-wise X goes through a row kernel, the column-major kinds through a
column kernel that gives the same bits.  Nothing blocks Python's other threads while a kernel
runs (``nogil``): a file reader parses ahead.

What it serves (:func:`supports`): the losses in :data:`LOSSES` ("squared", "huber") on
float64 or float32 data, any layout above.  Anything else -- a loss registered at run time,
another dtype -- goes to the numpy kernel (:func:`value_grad` hands it on; the fit's kernel
chooser asks :func:`supports` first).

Determinism: rows are cut into blocks of :data:`BLOCK_ROWS` (a constant, so the partition
depends on ``n`` only, never on the thread count); each block's partial sums go to their
own slot and the slots are added by a fixed pairwise tree.  With ``fastmath`` off, the
result is bit-identical for any ``numba.set_num_threads``, and identical between the
layouts of the same data.  Below :data:`PARALLEL_MIN_CELLS` cells the same blocks run on
the calling thread (waking numba's threads costs more than such a pass; on a busy 2-core
machine a 1e5 x 20 pass took 1.1 ms on one thread and 3-10 ms on two).

Inside a block the summation order is fixed as follows (all layouts):
- prediction: ``p = lane_dot(x - mu, v) + b`` with four lanes: lane l sums the products
  ``(x_j - mu_j) * v_j`` of columns ``j = l, l + 4, l + 8, ...`` ascending, the lanes are
  added as ``(l0 + l1) + (l2 + l3)``, then the d % 4 last products one by one
  (:func:`lane_dot`);
- gradient: rows go in groups of 4 from the block's first row:
  ``g_j += c0*xc0_j + c1*xc1_j + c2*xc2_j + c3*xc3_j`` (left to right), then the leftover
  rows one at a time; loss and ``gb`` are added row by row.

The row kernel is one sweep over X: four rows at a time are centred into a small buffer
(the float32 widening one vector conversion per four values), predicted, turned into loss
derivatives and folded into the gradient while they sit in L1.  It is written so that
LLVM's SLP vectoriser (switched on for gradfit's entry points only,
:mod:`gradfit.model.compiling`) makes each row's four lanes one vector and the gradient four
columns per vector operation; the vectoriser never reassociates (no fast-math), so the bits
are the scalar loop's.  The helpers it calls are inlined at numba's level
(``inline="always"``): numba does not inline a called jit function otherwise, and a call
per row cost a third of the pass.  At 1e7 x 20 float64 the pass runs at about the one-thread
memory floor on two threads (benchmarks/NOTES.md).  The column kernel keeps the four lanes
in four row-long arrays, so both layouts give the same bits.  The compiled code is cached
on disk (compiled once per machine; a one-line
:class:`~gradfit.exceptions.CompilationWarning` says when that happens).

If numba cannot be imported at all, :func:`available` is False and :func:`value_grad` falls
back to the pure-numpy kernel in :mod:`gradfit.model.kernels`.
"""

from __future__ import annotations

import numpy as np

from gradfit.model.columns import Columns
from gradfit.model.compiling import entry, jit

__all__ = ["BLOCK_ROWS", "LOSSES", "available", "lane_dot", "lane_dot4", "supports", "value_grad",
           "warmup"]

BLOCK_ROWS = 4096  # rows per parallel block; fixed so that results never depend on threads
PARALLEL_MIN_CELLS = 1 << 22  # smaller X runs on the calling thread (same blocks, same bits):
# waking numba's threads costs more than such a pass (about 2 ms), and far more on a busy machine
_TILE = 4  # rows per group of the gradient sums
_LOSS_CODE = {"squared": 0, "huber": 1}
LOSSES = tuple(_LOSS_CODE)  # the losses compiled in; others go to the numpy kernel
DTYPES = (np.dtype(np.float64), np.dtype(np.float32))  # X's types read as stored

try:  # numba is a core dependency; guarded so that a broken install still fits (numpy)
    import numba
except Exception:  # pragma: no cover - exercised in a subprocess test
    numba = None


def available() -> bool:
    """True when numba is importable, so :func:`value_grad` runs compiled."""
    return numba is not None


def supports(loss: str, dtype=np.float64) -> bool:
    """True when the compiled kernel computes ``loss`` on X of ``dtype`` itself (any
    layout); :func:`value_grad` hands anything else to the numpy kernel."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return False
    return numba is not None and loss in _LOSS_CODE and dt in DTYPES


if numba is not None:

    @jit(fastmath=False, nogil=True, inline="always")
    def _dloss(r, s, loss, eps):
        """(s * loss(r), s * dloss/dp) for one residual r = y - p."""
        if loss == 0 or abs(r) <= eps:
            return s * (r * r), s * (-2.0 * r)
        if r > 0:
            return s * (2.0 * eps * r - eps * eps), s * (-2.0 * eps)
        return s * (-2.0 * eps * r - eps * eps), s * (2.0 * eps)

    @jit(fastmath=False, nogil=True, inline="always")
    def lane_dot(Z, r, v):
        """``sum_j Z[r, j] * v[j]`` in the kernels' fixed order (module docstring): four
        lanes, lane l summing the products of columns l, l + 4, ... ascending, added as
        ``(l0 + l1) + (l2 + l3)``, then the d % 4 last products.  Inlined into the caller
        (numba does not inline a called jit function by itself: a call per row cost a
        third of the pass)."""
        d = v.shape[0]
        d4 = d - d % 4
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for j in range(0, d4, 4):
            s0 += Z[r, j] * v[j]
            s1 += Z[r, j + 1] * v[j + 1]
            s2 += Z[r, j + 2] * v[j + 2]
            s3 += Z[r, j + 3] * v[j + 3]
        p = (s0 + s1) + (s2 + s3)
        for j in range(d4, d):
            p += Z[r, j] * v[j]
        return p

    @jit(fastmath=False, nogil=True, inline="always")
    def lane_dot4(Z, v):
        """:func:`lane_dot` of rows 0..3 of Z at once: each row's four lanes are one
        vector of the SLP vectoriser (columns j..j+3 contiguous in Z and v), four rows four
        independent vectors; the bits are lane_dot's (no reordering)."""
        d = v.shape[0]
        d4 = d - d % 4
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        b0 = 0.0
        b1 = 0.0
        b2 = 0.0
        b3 = 0.0
        c0 = 0.0
        c1 = 0.0
        c2 = 0.0
        c3 = 0.0
        e0 = 0.0
        e1 = 0.0
        e2 = 0.0
        e3 = 0.0
        for j in range(0, d4, 4):
            v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
            a0 += Z[0, j] * v0
            a1 += Z[0, j + 1] * v1
            a2 += Z[0, j + 2] * v2
            a3 += Z[0, j + 3] * v3
            b0 += Z[1, j] * v0
            b1 += Z[1, j + 1] * v1
            b2 += Z[1, j + 2] * v2
            b3 += Z[1, j + 3] * v3
            c0 += Z[2, j] * v0
            c1 += Z[2, j + 1] * v1
            c2 += Z[2, j + 2] * v2
            c3 += Z[2, j + 3] * v3
            e0 += Z[3, j] * v0
            e1 += Z[3, j + 1] * v1
            e2 += Z[3, j + 2] * v2
            e3 += Z[3, j + 3] * v3
        p0 = (a0 + a1) + (a2 + a3)
        p1 = (b0 + b1) + (b2 + b3)
        p2 = (c0 + c1) + (c2 + c3)
        p3 = (e0 + e1) + (e2 + e3)
        for j in range(d4, d):
            vj = v[j]
            p0 += Z[0, j] * vj
            p1 += Z[1, j] * vj
            p2 += Z[2, j] * vj
            p3 += Z[3, j] * vj
        return p0, p1, p2, p3

    @jit(fastmath=False, nogil=True)
    def _block_rows(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0, i1, acc):
        """Rows i0:i1 of a row-wise X into acc (k, d + 2): [gz | gb | loss_sum].  One sweep
        in groups of four rows: centred once into Z (4, d) (the widening of float32 one
        vector conversion per four values), predicted (:func:`lane_dot4`), their losses and
        derivatives, and their gradient terms ``g_j += c0 z0_j + c1 z1_j + c2 z2_j + c3
        z3_j`` for every output; the rows left over one at a time.  Every sum in the order
        of the module docstring."""
        d = X.shape[1]
        k = vT.shape[0]
        Z = np.empty((4, d))
        G = np.empty((k, d + 2))
        for q in range(k):
            for j in range(d + 2):
                G[q, j] = acc[q, j]
        i = i0
        while i + 4 <= i1:
            for r in range(4):
                for j in range(d):
                    Z[r, j] = X[i + r, j] - mu[j]
            for q in range(k):
                p0, p1, p2, p3 = lane_dot4(Z, vT[q])
                bq = b[q]
                y0 = Y[i, q] if has_y else 0.0
                y1 = Y[i + 1, q] if has_y else 0.0
                y2 = Y[i + 2, q] if has_y else 0.0
                y3 = Y[i + 3, q] if has_y else 0.0
                l0, c0 = _dloss(y0 - (p0 + bq), sw[i] if has_w else 1.0, loss, eps)
                l1, c1 = _dloss(y1 - (p1 + bq), sw[i + 1] if has_w else 1.0, loss, eps)
                l2, c2 = _dloss(y2 - (p2 + bq), sw[i + 2] if has_w else 1.0, loss, eps)
                l3, c3 = _dloss(y3 - (p3 + bq), sw[i + 3] if has_w else 1.0, loss, eps)
                G[q, d + 1] = (((G[q, d + 1] + l0) + l1) + l2) + l3
                G[q, d] = (((G[q, d] + c0) + c1) + c2) + c3
                for j in range(d):
                    G[q, j] += c0 * Z[0, j] + c1 * Z[1, j] + c2 * Z[2, j] + c3 * Z[3, j]
            i += 4
        while i < i1:
            for j in range(d):
                Z[0, j] = X[i, j] - mu[j]
            for q in range(k):
                yq = Y[i, q] if has_y else 0.0
                lq, c = _dloss(yq - (lane_dot(Z, 0, vT[q]) + b[q]),
                               sw[i] if has_w else 1.0, loss, eps)
                G[q, d + 1] += lq
                G[q, d] += c
                for j in range(d):
                    G[q, j] += c * Z[0, j]
            i += 1
        for q in range(k):
            for j in range(d + 2):
                acc[q, j] = G[q, j]

    @jit(fastmath=False, nogil=True)
    def _block_cols(cols, r0, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0, i1, acc):
        """Rows r0 + i0 : r0 + i1 of X held as columns (``cols[j]``: column j, 1-D; a 2-D
        array (d, n) -- X.T of a column-major X -- or a list of arrays), with ``Y`` and
        ``sw`` indexed from r0.  Column sweeps over the block (it sits in L2), with exactly
        the summation order of _block_rows, hence the same bits; two columns at a time in the
        gradient sweep, whose per-column sums are chains of dependent additions."""
        d = len(cols)
        k = vT.shape[0]
        nb = i1 - i0
        o = r0 + i0
        d4 = d - d % 4
        P = np.empty((k, nb))
        C = np.empty((k, nb))
        S = np.empty((4, nb))  # the four lanes of lane_dot, for every row of the block
        for q in range(k):
            S[:] = 0.0
            for j in range(0, d4, 4):  # four column streams at once
                x0 = cols[j][o:o + nb]
                x1 = cols[j + 1][o:o + nb]
                x2 = cols[j + 2][o:o + nb]
                x3 = cols[j + 3][o:o + nb]
                m0, m1, m2, m3 = mu[j], mu[j + 1], mu[j + 2], mu[j + 3]
                v0, v1, v2, v3 = vT[q, j], vT[q, j + 1], vT[q, j + 2], vT[q, j + 3]
                for t in range(nb):
                    S[0, t] += (x0[t] - m0) * v0
                    S[1, t] += (x1[t] - m1) * v1
                    S[2, t] += (x2[t] - m2) * v2
                    S[3, t] += (x3[t] - m3) * v3
            Pq = P[q]
            for t in range(nb):
                Pq[t] = (S[0, t] + S[1, t]) + (S[2, t] + S[3, t])
            for j in range(d4, d):
                x = cols[j][o:o + nb]
                m = mu[j]
                vj = vT[q, j]
                for t in range(nb):
                    Pq[t] += (x[t] - m) * vj
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

    @jit(fastmath=False, nogil=True)
    def _rows_range(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1, partials):
        """Blocks blk0:blk1 of row-wise X (row-major or any strided view), each into its own
        slot of ``partials`` (nblk, k, d + 2)."""
        n = X.shape[0]
        for blk in range(blk0, blk1):
            i0 = blk * BLOCK_ROWS
            _block_rows(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0,
                        min(n, i0 + BLOCK_ROWS), partials[blk])

    @entry(vectorize=True)
    def _rows_blocks(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1, partials):
        """_rows_range over row-wise float64 or float32 X, compiled with the SLP vectoriser
        (lane_dot4's four lanes and the gradient's four columns per vector operation; the
        bits are the scalar code's: the vectoriser never reorders)."""
        _rows_range(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1, partials)

    @entry(vectorize=False)
    def _cols_blocks(cols, r0, n, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1,
                     partials):
        """Blocks blk0:blk1 of rows r0 : r0 + n of X held as columns, as _rows_blocks."""
        for blk in range(blk0, blk1):
            i0 = blk * BLOCK_ROWS
            _block_cols(cols, r0, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0,
                        min(n, i0 + BLOCK_ROWS), partials[blk])


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
    ``mu=None`` means no centring.  A loss or dtype the compiled kernel does not serve
    (:func:`supports`) is handed to the numpy kernel, with the same contract.
    """
    cols, r0 = None, 0
    if isinstance(X, Columns):  # columns held apart: read in place, no (n, d) copy
        if numba is None or loss not in _LOSS_CODE:
            return _numpy_kernel(np.asarray(X), y, sw, mu, v, b, loss, epsilon)
        cols, r0 = X.numba_columns(), X.start
    elif type(X) is not np.ndarray or (X.dtype != _F64 and X.dtype != _F32):
        X = np.asarray(X)
        if X.dtype != _F64 and X.dtype != _F32 and X.dtype != np.longdouble:
            X = X.astype(_F64)
    if numba is None or loss not in _LOSS_CODE or X.dtype == np.longdouble:
        return _numpy_kernel(X, y, sw, mu, v, b, loss, epsilon)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    n, d = X.shape
    if cols is None and d > 1 and X.strides[0] == X.itemsize:  # column-major (or a row
        cols = X.T  # slice of it): columns are rows of X.T
    v = _f64(v)
    k = v.shape[1] if v.ndim == 2 else 1
    vT = np.ascontiguousarray(v.reshape(d, k).T)
    has_y = y is not None
    Y = _f64(y).reshape(n, k) if has_y else _ONE.reshape(1, 1)
    mu = np.zeros(d) if mu is None else _f64(mu).reshape(d)
    has_w = sw is not None
    s = _f64(sw).reshape(n) if has_w else _ONE
    rest = (Y, has_y, s, has_w, mu, vT, _f64(b).reshape(k), _LOSS_CODE[loss], float(epsilon))
    if cols is not None:
        acc = _run_blocks(_cols_blocks, (cols, r0, n) + rest, n, d, k)
    else:
        acc = _run_blocks(_rows_blocks, (X,) + rest, n, d, k)
    return acc[:, d + 1], acc[:, :d].T, acc[:, d]


_POOL = {"executor": None, "workers": 0}


def threads_for(n: int, d: int) -> int:
    """Threads a pass over n x d values runs on: ``numba.get_num_threads()`` from
    :data:`PARALLEL_MIN_CELLS` cells and two blocks on, else 1 (the calling thread)."""
    if n <= BLOCK_ROWS or n * d < PARALLEL_MIN_CELLS:
        return 1
    return max(1, min(numba.get_num_threads(), -(-n // BLOCK_ROWS)))


def _executor(workers: int):
    if _POOL["workers"] < workers:
        from concurrent.futures import ThreadPoolExecutor

        old = _POOL["executor"]
        _POOL["executor"] = ThreadPoolExecutor(workers, thread_name_prefix="gradfit-kernel")
        _POOL["workers"] = workers
        if old is not None:
            old.shutdown(wait=False)
    return _POOL["executor"]


def _run_blocks(blocks, args, n, d, k):
    """Every block's partial sums (``blocks(*args, blk0, blk1, partials)``), on
    :func:`threads_for` threads (the kernels release the GIL; a few ranges of blocks per
    thread, so that a thread slowed by a busy neighbour does not hold up the pass), then
    the fixed pairwise sum over the blocks: the same bits for any number of threads."""
    nblk = -(-n // BLOCK_ROWS)
    partials = np.zeros((nblk, k, d + 2))
    threads = threads_for(n, d)
    if threads == 1:
        blocks(*args, 0, nblk, partials)
    else:
        cuts = np.linspace(0, nblk, min(nblk, 4 * threads) + 1).astype(int)
        blocks(*args, 0, 0, partials)  # any compiling happens here, on the calling thread
        pool = _executor(threads)
        jobs = [pool.submit(blocks, *args, int(a), int(b), partials)
                for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        for job in jobs:
            job.result()
    while nblk > 1:  # fixed pairwise tree: slot i += slot i + half
        half = (nblk + 1) // 2
        partials[: nblk - half] += partials[half:nblk]
        nblk = half
    return partials[0]


def _numpy_kernel(X, y, sw, mu, v, b, loss, epsilon):
    from gradfit.model import kernels  # the pure-numpy kernel: any registered loss

    return kernels.value_grad(X, y, sw, mu, v, b, loss, epsilon)


value_grad.reads_any_layout = numba is not None  # Columns, column-major: see the module doc


def warmup() -> float:
    """Compile (or load from the on-disk cache) the row kernels over float64 and float32 X,
    and the column kernel over float64 :class:`Columns` (what
    a file's passes use); return the seconds it took."""
    import time

    if numba is None:
        return 0.0
    t = time.perf_counter()
    for dt in (np.float64, np.float32):
        X = np.ones((3, 2), dtype=dt)
        value_grad(X, np.ones((3, 1)), None, np.zeros(2), np.ones((2, 1)), np.zeros(1))
    column = np.ones(3)
    column.flags.writeable = False  # as pyarrow's buffers are
    value_grad(Columns([column, column]), column[:, None], None, np.zeros(2), np.ones((2, 1)),
               np.zeros(1))
    return time.perf_counter() - t
