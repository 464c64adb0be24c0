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
- prediction: ``p = (sum_j (x_j - mu_j) * v_j, j = 0..d-1) + b``, j ascending;
- gradient: rows go in groups of 4 from the block's first row:
  ``g_j += c0*xc0_j + c1*xc1_j + c2*xc2_j + c3*xc3_j`` (left to right), then the leftover
  rows one at a time; loss and ``gb`` are added row by row.

The row kernel is written so that LLVM's SLP vectoriser (switched on for gradfit's entry
points only, :mod:`gradfit.model.compiling`) computes four rows' predictions per vector
operation and the gradient four columns per vector operation, in exactly that order: the
vectoriser never reassociates (no fast-math), so the bits are the scalar loop's.  float32 X
runs that vectorised entry (the widening becomes one vector conversion per four values: 6.7
against 15.4 ns a row in L2, and at 1e7 x 20 the float32 pass about 0.5-0.7x the float64
one); float64 X runs the same code compiled without it, which streams from memory faster
(vectorised: 5.8 against 10.8 ns a row in L2, but 1.3x slower at 1e7 x 20 on two threads;
benchmarks/NOTES.md).  The compiled code is cached on disk (compiled once per machine; a one-line
:class:`~gradfit.exceptions.CompilationWarning` says when that happens).

If numba cannot be imported at all, :func:`available` is False and :func:`value_grad` falls
back to the pure-numpy kernel in :mod:`gradfit.model.kernels`.
"""

from __future__ import annotations

import numpy as np

from gradfit.model.columns import Columns
from gradfit.model.compiling import entry, jit

__all__ = ["BLOCK_ROWS", "LOSSES", "available", "supports", "value_grad", "warmup"]

BLOCK_ROWS = 4096  # rows per parallel block; fixed so that results never depend on threads
PARALLEL_MIN_CELLS = 1 << 22  # smaller X runs on the calling thread (same blocks, same bits):
# waking numba's threads costs more than such a pass (about 2 ms), and far more on a busy machine
_TILE = 4
_TILE_ROWS = 64  # rows per tile of the row kernel (a multiple of _TILE; 10 KiB at d = 20)
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

    @jit(fastmath=False, nogil=True)
    def _dloss(r, s, loss, eps):
        """(s * loss(r), s * dloss/dp) for one residual r = y - p."""
        if loss == 0 or abs(r) <= eps:
            return s * (r * r), s * (-2.0 * r)
        if r > 0:
            return s * (2.0 * eps * r - eps * eps), s * (-2.0 * eps)
        return s * (-2.0 * eps * r - eps * eps), s * (2.0 * eps)

    @jit(fastmath=False, nogil=True)
    def _pred_rows(X, mu, v, P):
        """P[t] = sum_j (X[t, j] - mu[j]) * v[j], j ascending, for the rows of X (a row tile
        indexed from 0).  Four rows and four columns at a time, written as 16 independent
        centre-and-scale steps and four chains of additions: the SLP vectoriser turns each
        step into one vector operation over four rows (the products transposed in
        registers), each chain keeping the scalar loop's order."""
        m_rows = X.shape[0]
        d = X.shape[1]
        d4 = d - d % 4
        i = 0
        while i + 4 <= m_rows:
            p0 = 0.0
            p1 = 0.0
            p2 = 0.0
            p3 = 0.0
            for j in range(0, d4, 4):
                m0, m1, m2, m3 = mu[j], mu[j + 1], mu[j + 2], mu[j + 3]
                v0, v1, v2, v3 = v[j], v[j + 1], v[j + 2], v[j + 3]
                a0 = (X[i, j] - m0) * v0
                a1 = (X[i, j + 1] - m1) * v1
                a2 = (X[i, j + 2] - m2) * v2
                a3 = (X[i, j + 3] - m3) * v3
                b0 = (X[i + 1, j] - m0) * v0
                b1 = (X[i + 1, j + 1] - m1) * v1
                b2 = (X[i + 1, j + 2] - m2) * v2
                b3 = (X[i + 1, j + 3] - m3) * v3
                c0 = (X[i + 2, j] - m0) * v0
                c1 = (X[i + 2, j + 1] - m1) * v1
                c2 = (X[i + 2, j + 2] - m2) * v2
                c3 = (X[i + 2, j + 3] - m3) * v3
                e0 = (X[i + 3, j] - m0) * v0
                e1 = (X[i + 3, j + 1] - m1) * v1
                e2 = (X[i + 3, j + 2] - m2) * v2
                e3 = (X[i + 3, j + 3] - m3) * v3
                p0 = (((p0 + a0) + a1) + a2) + a3
                p1 = (((p1 + b0) + b1) + b2) + b3
                p2 = (((p2 + c0) + c1) + c2) + c3
                p3 = (((p3 + e0) + e1) + e2) + e3
            for j in range(d4, d):
                m = mu[j]
                vj = v[j]
                p0 += (X[i, j] - m) * vj
                p1 += (X[i + 1, j] - m) * vj
                p2 += (X[i + 2, j] - m) * vj
                p3 += (X[i + 3, j] - m) * vj
            P[i] = p0
            P[i + 1] = p1
            P[i + 2] = p2
            P[i + 3] = p3
            i += 4
        while i < m_rows:
            p = 0.0
            for j in range(d):
                p += (X[i, j] - mu[j]) * v[j]
            P[i] = p
            i += 1

    @jit(fastmath=False, nogil=True)
    def _grad_rows(X, mu, C, g):
        """g[j] += sum over the rows of X (a tile indexed from 0) of C[t] * (X[t, j] - mu[j]):
        rows in groups of 4, ``g_j += c0 z0 + c1 z1 + c2 z2 + c3 z3`` (left to right), then
        the rows left over one at a time.  Columns go four at a time, each group's four
        running sums in registers across the tile (the SLP vectoriser makes them one
        vector); the d % 4 last columns one by one."""
        m_rows = X.shape[0]
        d = X.shape[1]
        d4 = d - d % 4
        m4 = m_rows - m_rows % 4
        for j in range(0, d4, 4):
            m0, m1, m2, m3 = mu[j], mu[j + 1], mu[j + 2], mu[j + 3]
            g0, g1, g2, g3 = g[j], g[j + 1], g[j + 2], g[j + 3]
            for i in range(0, m4, 4):
                c0, c1, c2, c3 = C[i], C[i + 1], C[i + 2], C[i + 3]
                g0 += (c0 * (X[i, j] - m0) + c1 * (X[i + 1, j] - m0)
                       + c2 * (X[i + 2, j] - m0) + c3 * (X[i + 3, j] - m0))
                g1 += (c0 * (X[i, j + 1] - m1) + c1 * (X[i + 1, j + 1] - m1)
                       + c2 * (X[i + 2, j + 1] - m1) + c3 * (X[i + 3, j + 1] - m1))
                g2 += (c0 * (X[i, j + 2] - m2) + c1 * (X[i + 1, j + 2] - m2)
                       + c2 * (X[i + 2, j + 2] - m2) + c3 * (X[i + 3, j + 2] - m2))
                g3 += (c0 * (X[i, j + 3] - m3) + c1 * (X[i + 1, j + 3] - m3)
                       + c2 * (X[i + 2, j + 3] - m3) + c3 * (X[i + 3, j + 3] - m3))
            for i in range(m4, m_rows):
                c = C[i]
                g0 += c * (X[i, j] - m0)
                g1 += c * (X[i, j + 1] - m1)
                g2 += c * (X[i, j + 2] - m2)
                g3 += c * (X[i, j + 3] - m3)
            g[j] = g0
            g[j + 1] = g1
            g[j + 2] = g2
            g[j + 3] = g3
        for j in range(d4, d):
            m = mu[j]
            gj = g[j]
            for i in range(0, m4, 4):
                gj += (C[i] * (X[i, j] - m) + C[i + 1] * (X[i + 1, j] - m)
                       + C[i + 2] * (X[i + 2, j] - m) + C[i + 3] * (X[i + 3, j] - m))
            for i in range(m4, m_rows):
                gj += C[i] * (X[i, j] - m)
            g[j] = gj

    @jit(fastmath=False, nogil=True)
    def _block_rows(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0, i1, acc):
        """Rows i0:i1 of a row-wise X into acc (k, d + 2): [gz | gb | loss_sum].  Output by
        output, tiles of _TILE_ROWS rows: their predictions (_pred_rows), their losses and
        derivatives row by row, their gradient (_grad_rows), each tile's rows read from L1
        cache.  Every sum in the order of the module docstring."""
        d = X.shape[1]
        k = vT.shape[0]
        P = np.empty(_TILE_ROWS)
        C = np.empty(_TILE_ROWS)
        g = np.empty(d)
        for q in range(k):
            v = vT[q]
            bq = b[q]
            lsum = acc[q, d + 1]
            gbs = acc[q, d]
            for j in range(d):
                g[j] = acc[q, j]
            for r0 in range(i0, i1, _TILE_ROWS):
                r1 = min(i1, r0 + _TILE_ROWS)
                Xt = X[r0:r1]  # tiles indexed from 0: no negative-index fix-ups in the loops
                Yt = Y[r0:r1] if has_y else Y
                st = sw[r0:r1] if has_w else sw
                _pred_rows(Xt, mu, v, P)
                for t in range(r1 - r0):
                    s = st[t] if has_w else 1.0
                    yq = Yt[t, q] if has_y else 0.0
                    lq, c = _dloss(yq - (P[t] + bq), s, loss, eps)
                    lsum += lq
                    gbs += c
                    C[t] = c
                _grad_rows(Xt, mu, C, g)
            acc[q, d + 1] = lsum
            acc[q, d] = gbs
            for j in range(d):
                acc[q, j] = g[j]

    @jit(fastmath=False, nogil=True)
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

    @jit(fastmath=False, nogil=True)
    def _rows_range(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1, partials):
        """Blocks blk0:blk1 of row-wise X (row-major or any strided view), each into its own
        slot of ``partials`` (nblk, k, d + 2)."""
        n = X.shape[0]
        for blk in range(blk0, blk1):
            i0 = blk * BLOCK_ROWS
            _block_rows(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, i0,
                        min(n, i0 + BLOCK_ROWS), partials[blk])

    @entry(vectorize=False)
    def _rows_blocks(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1, partials):
        """_rows_range over float64 X, compiled without the SLP vectoriser: from memory its
        scalar code streams X faster than the vectorised code does (which is twice as fast on
        rows in cache, but 1.3x slower over 1e7 x 20 on two threads)."""
        _rows_range(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1, partials)

    @entry(vectorize=True)
    def _rows_blocks_vec(X, Y, has_y, sw, has_w, mu, vT, b, loss, eps, blk0, blk1, partials):
        """_rows_range over float32 X with the SLP vectoriser: four rows' predictions and four
        columns of the gradient per vector operation, each widening load one vector
        conversion (the bits are the scalar code's: the vectoriser never reorders)."""
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
        rows = _rows_blocks_vec if X.dtype == _F32 else _rows_blocks  # float32: vectorised
        acc = _run_blocks(rows, (X,) + rest, n, d, k)
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
