"""One whole mini-batch epoch of plain SGD on CSR rows, compiled (numba), in O(nnz) a batch.

The training loop's mini-batch gradient step (``gradfit.solvers.engine``, ``solver="gd"``)
on a batch B of rows, in the solver's coordinates w~ = sigma * w (``Scaling`` diagonal or
none) and the centred intercept b~, is

    c_i  = s_i loss'(p_i),   p_i = (x_i - mu) . (w~ / sigma) + b~
    w~_j <- w~_j - lr (sum_B c_i x_ij - mu_j sum_B c_i) / (sigma_j den),   den = |B| S / n
    b~   <- b~ - lr sum_B c_i / den

Its centring term moves every coordinate, along the fixed vector m = mu / sigma.  So the
epoch keeps w~ = u + t m: the stored values of the batch move u (sparse), the scalar t takes
the dense part (t <- t + lr sum_B c_i / den), and the predictions need only

    p_i = sum_{j stored} x_ij (u_j + t m_j) / sigma_j - (q + t |m|^2) + b~,   q = m . u

with q kept up to date as u changes (and recomputed every chunk).  The epoch stores
v = u / sigma (and, side by side per column, r = m / sigma, 1 / sigma^2 and mu), so that a
stored value costs a multiply-add and no division; in the caller's units (mu = 0, sigma = 1)
a row is x_i . v + b~, the work of scikit-learn's plain SGD.  Polyak averaging (the
loop's ``average``) is lazy too: the mean of u_j is brought up to date only when u_j changes
(it was constant since), the means of t and b~ every batch, and all of it at the epoch's end.
The permutation, the sorted rows of each batch and the learning rates are the loop's
(``gradfit.solvers.minibatch_numba.schedule_rates``), so the epoch follows the Python loop
step for step; the numbers agree to rounding (tests/test_sparse.py: 1e-10), not bit for bit.

What it serves (:func:`epoch_runner`, else None and the Python loop runs, with the CSR batch
kernel): ``solver="gd"``, no penalty, the squared or huber loss, diagonal coordinates.
"""

from __future__ import annotations

import numpy as np

from gradfit.model.compiling import entry, jit

__all__ = ["epoch_runner", "available", "LOSSES"]

_LOSS_CODE = {"squared": 0, "huber": 1}
LOSSES = tuple(_LOSS_CODE)
CHUNK_BATCHES = 1 << 16  # batches per compiled call (bounds the learning-rate buffer)
_AHEAD = 16  # rows of the shuffled stream whose memory is hinted ahead of their step

try:  # numba is a core dependency; guarded so that a broken install still fits
    import numba

    from gradfit.model.kernels_sparse import loss_and_slope
    from gradfit.solvers.minibatch_numba import prefetch
except Exception:  # pragma: no cover - numba missing
    numba = None


def available() -> bool:
    return numba is not None


if numba is not None:

    @jit(fastmath=False, inline="always")  # numba IR inlining: no call per row
    def _sorted_batch(order, start, nb, idx):
        """idx[:nb] = the batch's rows, sorted (as np.sort(order[start:start + nb]))."""
        if nb == 1:
            idx[0] = order[start]
        elif nb <= 32:
            for t in range(nb):
                r = order[start + t]
                v = t - 1
                while v >= 0 and idx[v] > r:
                    idx[v + 1] = idx[v]
                    v -= 1
                idx[v + 1] = r
        else:
            idx[:nb] = order[start:start + nb]
            idx[:nb].sort()

    @jit(fastmath=False, inline="always")  # numba IR inlining: no call per row
    def _slopes(indptr, indices, data, Y, sw, has_w, plain, cols, m2, idx, nb, loss, eps, V,
                T, Q, BT, C):
        """C[t, q] = s_i loss'(p_i) for the batch's rows, at the parameters before the step:
        p_i = sum_j x_ij (v_j + t r_j) - (q + t |m|^2) + b~ (``plain``: mu = 0, sigma = 1,
        p_i = x_i . v + b~)."""
        k = V.shape[0]
        for t in range(nb):
            i = idx[t]
            s = sw[i] if has_w else 1.0
            for q in range(k):
                p = 0.0
                if plain:
                    for z in range(indptr[i], indptr[i + 1]):
                        p += data[z] * V[q, indices[z]]
                else:
                    tq = T[q]
                    for z in range(indptr[i], indptr[i + 1]):
                        j = indices[z]
                        p += data[z] * (V[q, j] + tq * cols[j, 0])
                    p = p - (Q[q] + tq * m2)
                C[t, q] = loss_and_slope(Y[i, q] - (p + BT[q]), s, loss, eps)[1]

    @jit(fastmath=False, inline="always")  # numba IR inlining: no call per row
    def _move(indptr, indices, data, plain, cols, idx, nb, scale, average, prev, V, Q, AV, L,
              C):
        """v_j -= scale c_i x_ij / sigma_j^2 over the batch's stored values (q with it); the
        mean of v_j first brought up to the count ``prev`` (v_j was constant since L[j])."""
        k = V.shape[0]
        for t in range(nb):
            i = idx[t]
            a = indptr[i]
            e = indptr[i + 1]
            if average:
                for z in range(a, e):
                    j = indices[z]
                    if L[j] != prev:
                        for q in range(k):
                            AV[q, j] = (L[j] * AV[q, j] + (prev - L[j]) * V[q, j]) / prev
                        L[j] = prev
            for q in range(k):
                g = scale * C[t, q]
                if plain:
                    for z in range(a, e):
                        V[q, indices[z]] -= g * data[z]
                else:
                    dq = 0.0
                    for z in range(a, e):
                        j = indices[z]
                        step = g * data[z] * cols[j, 1]
                        V[q, j] -= step
                        dq += cols[j, 2] * step
                    Q[q] -= dq

    @jit(fastmath=False, inline="always")  # numba IR inlining: no call per row
    def _prefetch_rows(P2, I2, D2, Y, V, cols, plain, order, upto, pos):
        """Hint the rows of the epoch's stream in three stages, so that each row's memory is
        in cache when its step comes (the rows are visited in shuffled order: each one is a
        few cache misses): ``indptr`` and y of the rows up to ``upto + AHEAD``, then the
        stored values and their column indices of the rows up to ``upto + AHEAD // 2``,
        then the coefficients they will touch, up to ``upto + 3``.  ``pos`` holds the three
        positions reached; no value changes."""
        n = order.shape[0]
        k = V.shape[0]
        top = min(n, upto + _AHEAD)
        while pos[0] < top:
            i = order[pos[0]]
            prefetch(P2, 0, i)
            prefetch(Y, i, 0)
            pos[0] += 1
        top = min(n, upto + _AHEAD // 2)
        while pos[1] < top:
            i = order[pos[1]]
            a = P2[0, i]
            z = P2[0, i + 1]
            if z > a:
                prefetch(D2, 0, a)
                prefetch(D2, 0, z - 1)
                prefetch(I2, 0, a)
                prefetch(I2, 0, z - 1)
            pos[1] += 1
        top = min(n, upto + 3)
        while pos[2] < top:
            i = order[pos[2]]
            for z in range(P2[0, i], P2[0, i + 1]):
                j = I2[0, z]
                for q in range(k):
                    prefetch(V, q, j)
                if not plain:
                    prefetch(cols, j, 0)
            pos[2] += 1

    @entry(fastmath=False)
    def _sgd_chunk(indptr, indices, data, Y, sw, has_w, plain, cols, m2, order, B, j0, lrs, S,
                   loss, eps, fit_icpt, average, V, T, Q, BT, AV, AT, AB, L, n_avg, idx, C):
        """Batches j0 .. j0 + len(lrs) - 1 of the epoch (module docstring): v = u / sigma
        (V, (k, d)), t (T), q (Q), b~ (BT); the means AV (of v, as of count L[j]), AT, AB;
        returns n_avg."""
        n = order.shape[0]
        k = V.shape[0]
        P2 = indptr.reshape(1, indptr.shape[0])  # 2-D views for the prefetch hint
        I2 = indices.reshape(1, indices.shape[0])
        D2 = data.reshape(1, data.shape[0])
        pos = np.full(3, j0 * B, dtype=np.int64)
        for jb in range(lrs.shape[0]):
            start = (j0 + jb) * B
            nb = min(B, n - start)
            _prefetch_rows(P2, I2, D2, Y, V, cols, plain, order, start + nb, pos)
            _sorted_batch(order, start, nb, idx)
            _slopes(indptr, indices, data, Y, sw, has_w, plain, cols, m2, idx, nb, loss, eps,
                    V, T, Q, BT, C)
            den = nb * S / n
            lr = lrs[jb]
            if average:
                n_avg += 1
            _move(indptr, indices, data, plain, cols, idx, nb, lr / den, average, n_avg - 1,
                  V, Q, AV, L, C)
            for q in range(k):
                tot = 0.0
                for t in range(nb):
                    tot += C[t, q]
                T[q] += lr * tot / den
                if fit_icpt:
                    BT[q] -= lr * tot / den
                if average:
                    AT[q] += (T[q] - AT[q]) / n_avg
                    AB[q] += (BT[q] - AB[q]) / n_avg
        return n_avg


def epoch_runner(obj, batch_size, solver, momentum, schedule):
    """``run(P, state, avg, n_avg, epoch, rng) -> (P, state, avg, n_avg, lr)``: one epoch of
    ``engine.train`` compiled on CSR rows (module docstring), or None where it does not
    apply."""
    from gradfit.model.backend import capabilities
    from gradfit.model.penalties import penalty_parts

    data = obj.data
    if numba is None or not capabilities(data).sparse or batch_size is None:
        return None
    parts = penalty_parts(obj.penalty)
    B = min(int(batch_size), obj.n)
    if (solver != "gd" or B >= obj.n or obj.loss not in _LOSS_CODE or parts is None
            or parts[0] or parts[1] or not obj.scaling.is_diagonal):
        return None
    from gradfit.model.sparse import as_csr
    from gradfit.solvers.minibatch_numba import schedule_rates

    X = as_csr(data.X)
    rows, k, d = X.shape[0], obj.k, obj.d
    Y = np.ascontiguousarray(data.y, np.float64).reshape(rows, k)
    has_w = data.sw is not None
    sw = np.ascontiguousarray(data.sw, np.float64) if has_w else np.ones(1)
    mask = getattr(data, "mask", None)
    subset = None if mask is None else np.flatnonzero(mask)
    mu = np.ascontiguousarray(obj.mu, np.float64)
    sigma = np.ascontiguousarray(obj.sigma, np.float64)
    plain = not mu.any() and bool(np.all(sigma == 1.0))  # the caller's units: x . v + b
    m = mu / sigma
    # per column, side by side (one cache line per stored value): r = m / sigma,
    # 1 / sigma^2, mu
    cols = np.ascontiguousarray(np.column_stack([m / sigma, 1.0 / (sigma * sigma), mu]))
    m2 = float(m @ m)
    n, S, icpt = obj.n, float(obj.S), bool(obj.fit_intercept)
    nb = -(-n // B)
    lrbuf = np.empty(min(nb, CHUNK_BATCHES))
    idx, C = np.zeros(B, dtype=np.int64), np.zeros((B, k))
    loss, eps = _LOSS_CODE[obj.loss], float(obj.epsilon)

    def run(P, state, avg, n_avg, epoch, rng):
        order = rng.permutation(n) if subset is None else subset.copy()
        if subset is not None:
            rng.shuffle(order)  # as RowSubset / SparseBackend.minibatches draw it
        V = np.array(P[:d].T / sigma, dtype=np.float64, order="C")  # (k, d); t = 0: w~ = u
        T, BT = np.zeros(k), (np.array(P[d], dtype=np.float64) if icpt else np.zeros(k))
        average = avg is not None
        AV = (np.array(avg[:d].T / sigma, dtype=np.float64, order="C") if average
              else np.zeros((k, 1)))
        AT = np.zeros(k)
        AB = (np.array(avg[d], dtype=np.float64) if icpt else np.zeros(k)) if average \
            else np.zeros(k)
        L = np.full(d, int(n_avg), dtype=np.int64)
        n_avg = int(n_avg)
        lr = None
        for j0 in range(0, nb, CHUNK_BATCHES):
            j1 = min(nb, j0 + CHUNK_BATCHES)
            lrs = schedule_rates(schedule, epoch, j0, j1, nb, lrbuf)
            Q = (V * mu).sum(axis=1)  # q = m . u = mu . v, exact again every chunk (no BLAS:
            # its threads wake slowly on a busy machine)
            n_avg = _sgd_chunk(X.indptr, X.indices, X.data, Y, sw, has_w, plain, cols, m2,
                               order, B, j0, lrs, S, loss, eps, icpt, average, V, T, Q, BT,
                               AV, AT, AB, L, n_avg, idx, C)
            lr = float(lrs[-1])
        P = np.empty_like(P, dtype=np.float64)
        P[:d] = (V * sigma + np.multiply.outer(T, m)).T
        if icpt:
            P[d] = BT
        if average:
            if n_avg > 0:  # the means of v up to the epoch's last count
                AV = (L * AV + (n_avg - L) * V) / n_avg
            avg = np.empty_like(P)
            avg[:d] = (AV * sigma + np.multiply.outer(AT, m)).T
            if icpt:
                avg[d] = AB
        return P, state, avg, n_avg, lr

    return run
