"""Coordinate-descent epochs on a working set's Gram matrix, and the elastic net's duality gap
(compiled with numba through ``gradfit.model.compiling``: cached on disk, announced on a cold
cache; the same Python source runs uncompiled without numba).

The subproblem on a working set of m features, in the scale of
``gradfit.solvers.working_set`` (P = S F / 2):

    P(w) = 1/2 y~'y~ - q'w + 1/2 w'Qw + lam1 ||w||_1 + lam2/2 ||w||^2,
    Q = X~_W' X~_W,   q = X~_W' y~.

A coordinate-descent epoch visits j = 0..m-1 once and minimises P exactly along w_j:

    z = q_j - (Qw)_j + Q_jj w_j,    w_j <- soft(z, lam1) / (Q_jj + lam2),

a proximal-gradient step on coordinate j with the exact step 1 / Q_jj (the coordinate's own
Lipschitz constant).  Qw is kept up to date (m operations per coefficient that moves), so an
epoch costs O(m^2) whatever the number of rows.

Duality gap (Fercoq, Gramfort & Salmon 2015; the elastic net as a lasso on the data augmented
by sqrt(lam2) I, as scikit-learn's coordinate descent does): with the gradient correlations
c = X~'r, r = y~ - X~w and the dual point theta = kappa r,
kappa = min(1, lam1 / max_j |c_j - lam2 w_j|),

    gap = 1/2 (1 - kappa)^2 (r'r + lam2 ||w||^2) + lam1 ||w||_1 - kappa sum_j w_j (c_j - lam2 w_j)

(algebraically P(w) - D(theta), written without the cancellation of the two).  Without an L1
part (lam1 = 0, lam2 > 0) theta = r is feasible and gap = ||c - lam2 w||^2 / (2 lam2); without
any penalty there is no dual bound (inf).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["available", "enet_gap", "gram_cd", "gram_rows", "mirror_upper", "STATUS"]

STATUS = ("max_epochs", "converged", "stalled")
"""What :func:`gram_cd` returns as its status, by code."""


def _enet_gap(rr, c, w, lam1, lam2):
    """(primal P, duality gap, kappa) at w from r'r = ``rr``, c = X~'r (all features of the
    problem) and w (the same features; zeros off the support).  See the module docstring."""
    ww = 0.0
    l1n = 0.0
    wc = 0.0
    dn = 0.0
    g2 = 0.0
    for j in range(c.shape[0]):
        a = c[j] - lam2 * w[j]
        ww += w[j] * w[j]
        l1n += abs(w[j])
        wc += w[j] * a
        g2 += a * a
        if abs(a) > dn:
            dn = abs(a)
    rr = max(rr, 0.0)
    primal = 0.5 * rr + lam1 * l1n + 0.5 * lam2 * ww
    if lam1 > 0.0:
        kappa = 1.0 if dn <= lam1 else lam1 / dn
        gap = 0.5 * (1.0 - kappa) ** 2 * (rr + lam2 * ww) + lam1 * l1n - kappa * wc
    elif lam2 > 0.0:
        kappa = 1.0
        gap = g2 / (2.0 * lam2)
    else:
        kappa = 1.0
        gap = math.inf
    return primal, max(gap, 0.0), kappa


def _sub_gap(Q, q, w, g, lam1, lam2, yty):
    """(primal, gap) of the working-set subproblem, with g = Qw."""
    m = w.shape[0]
    c = np.empty(m)
    rr = yty
    for j in range(m):
        c[j] = q[j] - g[j]
        rr += w[j] * (g[j] - 2.0 * q[j])
    primal, gap, _ = _enet_gap(rr, c, w, lam1, lam2)
    return primal, gap


def _primal(Q, q, w, g, lam1, lam2, yty):
    """The subproblem's P at w, with g = Qw."""
    val = 0.5 * yty
    for j in range(w.shape[0]):
        val += w[j] * (0.5 * g[j] - q[j]) + lam1 * abs(w[j]) + 0.5 * lam2 * w[j] * w[j]
    return val


def _difference_gram(hist, A):
    """A[a, b] = (w_(a+1) - w_a) . (w_(b+1) - w_b) over the rows of ``hist``."""
    K, m = A.shape[0], hist.shape[1]
    for a in range(K):
        for b in range(a, K):
            s = 0.0
            for j in range(m):
                s += (hist[a + 1, j] - hist[a, j]) * (hist[b + 1, j] - hist[b, j])
            A[a, b] = s
            A[b, a] = s


def _cholesky_solve(A, z):
    """Solve A x = z in place (z becomes x) for a small symmetric positive definite A
    (overwritten by its Cholesky factor); False when A is not positive definite."""
    K = A.shape[0]
    for a in range(K):
        for b in range(a):
            A[a, a] -= A[a, b] * A[a, b]
        if A[a, a] <= 0.0:
            return False
        A[a, a] = math.sqrt(A[a, a])
        for r in range(a + 1, K):
            for b in range(a):
                A[r, a] -= A[r, b] * A[a, b]
            A[r, a] /= A[a, a]
    for a in range(K):
        for b in range(a):
            z[a] -= A[a, b] * z[b]
        z[a] /= A[a, a]
    for a in range(K - 1, -1, -1):
        for b in range(a + 1, K):
            z[a] -= A[b, a] * z[b]
        z[a] /= A[a, a]
    return True


def _extrapolate(hist, out):
    """Anderson extrapolation of the last K + 1 iterates (rows of ``hist``) into ``out``:
    the combination sum_i c_i w_(i+1), sum c_i = 1, that minimises the norm of the combined
    differences (Bertrand & Massias 2021).  False when the system is singular."""
    K = hist.shape[0] - 1
    A = np.zeros((K, K))
    _difference_gram(hist, A)
    trace = 0.0
    for a in range(K):
        trace += A[a, a]
    if trace <= 0.0:
        return False
    for a in range(K):
        A[a, a] += 1e-12 * trace
    z = np.ones(K)
    if not _cholesky_solve(A, z):
        return False
    total = z.sum()
    if total == 0.0 or not math.isfinite(total):
        return False
    for j in range(hist.shape[1]):
        s = 0.0
        for a in range(K):
            s += z[a] * hist[a + 1, j]
        out[j] = s / total
    return True


STALL_FLOOR = 1e-9
"""A relative step that stops decreasing counts as the rounding floor only below this."""
ANDERSON_K = 5
"""Iterates combined by each Anderson extrapolation (every K epochs)."""
SINGLE_REFRESH = 1e-5
"""gram_cd with a float32 Q: g is recomputed exactly each time the relative step has fallen
this much (float32 rows perturb g by about 6e-8 x the steps since; a margin of 100)."""
SINGLE_PATIENCE = 5
"""Float32 epochs without a new smallest step that hand over to float64 ones."""


def _add_rows(M, rows, coef, out):
    """``out += sum_j coef_j M[rows_j, :]`` over the nonzero coef_j, j ascending: one
    vectorised axpy per row, read contiguously (for a symmetric M, M[:, rows] coef)."""
    for j in range(coef.shape[0]):
        c = coef[j]
        if c != 0.0:
            r = rows[j]
            for i in range(out.shape[0]):
                out[i] += c * M[r, i]


def _matvec(Q, w, out):
    """out = Q w for a symmetric Q, as the rows of the support (:func:`_add_rows`) instead of
    a chain of dependent additions per output; the sums are the row dots' ones, j ascending
    (the same bits).  3.8 -> 1.5 ms at m = 2000 with 85% nonzeros."""
    out[:] = 0.0
    _add_rows(Q, np.arange(w.shape[0]), w, out)


def _epoch(Q, D, q, w, g, lam1, lam2):
    """One coordinate-descent epoch (j = 0..m-1), g = Qw kept up to date with the rows of Q
    (float64, or its float32 copy: see :func:`gram_cd`), D the float64 diagonal: (largest
    step |dw_j| sqrt(Q_jj), largest |w_j| sqrt(Q_jj))."""
    m = w.shape[0]
    max_step = 0.0
    max_w = 0.0
    for j in range(m):
        qjj = D[j]
        if qjj <= 0.0:
            continue
        old = w[j]
        z = q[j] - g[j] + qjj * old
        if z > lam1:
            new = (z - lam1) / (qjj + lam2)
        elif z < -lam1:
            new = (z + lam1) / (qjj + lam2)
        else:
            new = 0.0
        root = math.sqrt(qjj)
        if new != old:
            dlt = new - old
            for i in range(m):
                g[i] += dlt * Q[j, i]
            w[j] = new
            max_step = max(max_step, abs(dlt) * root)
        max_w = max(max_w, abs(new) * root)
    return max_step, max_w


def _moved(Q, acc, w, g, out):
    """out = g + Q (acc - w), over the rows where acc and w differ (out may be g)."""
    out[:] = g
    _add_rows(Q, np.arange(w.shape[0]), acc - w, out)


def _anderson(Q, Q32, single, q, w, g, hist, acc, g_acc, lam1, lam2, yty):
    """Replace w (and g = Qw) by the extrapolation of the iterates in ``hist`` if it lowers
    the subproblem's P.  Float64 epochs take the extrapolation's Q acc exactly; float32 ones
    (``single``) as g + Q32 (acc - w), whose rounding is in proportion to the move, as an
    epoch's is (see :func:`gram_cd`)."""
    if not _extrapolate(hist, acc):
        return
    if single:
        _moved(Q32, acc, w, g, g_acc)
    else:
        _matvec(Q, acc, g_acc)
    if _primal(Q, q, acc, g_acc, lam1, lam2, yty) < _primal(Q, q, w, g, lam1, lam2, yty):
        w[:] = acc
        g[:] = g_acc


def _single_check(Q, q, w, g, step_rel, st, lam1, lam2, yty, gap_tol, step_tol, primal,
                  gap):
    """After a float32 epoch (:func:`gram_cd`): (code: 1 converged, else 0; float32 epochs
    go on; primal; gap), g recomputed exactly when due; ``st`` the loop's state."""
    st[2] = 0.0 if step_rel < st[1] else st[2] + 1.0
    st[1] = min(st[1], step_rel)
    if st[0] == math.inf:
        st[0] = step_rel
    met = step_rel <= step_tol
    if met and gap_tol != math.inf:
        primal, gap = _sub_gap(Q, q, w, g, lam1, lam2, yty)
        met = gap <= gap_tol * primal
    if met and st[3] > 0.0:  # an epoch from an exact g met the target: g is exact to
        return 1, True, primal, gap  # 6e-8 x its steps (below rounding)
    st[3] = 0.0
    stalled = st[2] >= SINGLE_PATIENCE or step_rel == 0.0
    if met or stalled or step_rel <= SINGLE_REFRESH * st[0]:
        _matvec(Q, w, g)  # g exact again
        st[3] = 1.0 if met else 0.0  # the next epoch decides, from the exact g
        st[0] = step_rel
        st[1] = math.inf
        st[2] = 0.0
    return 0, not stalled, primal, gap


def _double_check(Q, q, w, g, step_rel, st, ep, lam1, lam2, yty, gap_tol, step_tol,
                  patience, check_every, primal, gap):
    """After a float64 epoch (:func:`gram_cd`): (code: 1 converged, 2 stalled, else 0;
    primal; gap); ``st`` the loop's state."""
    st[5] = 0.0 if step_rel < st[4] else st[5] + 1.0
    st[4] = min(st[4], step_rel)
    since = st[5]
    if step_rel <= step_tol:
        if gap_tol == math.inf:
            return 1, primal, gap
        if ep % check_every == 0 or step_rel == 0.0 or since >= patience:
            primal, gap = _sub_gap(Q, q, w, g, lam1, lam2, yty)
            if gap <= gap_tol * primal:
                return 1, primal, gap
    if since >= patience and st[4] <= STALL_FLOOR:
        return 2, primal, gap
    return 0, primal, gap


def gram_cd(Q, Q32, q, w, g, g_w, has_g, lam1, lam2, yty, max_epochs, gap_tol, step_tol,
            patience, check_every):
    """Coordinate-descent epochs on the subproblem (Q, q) from w (updated in place), with an
    Anderson extrapolation of the last :data:`ANDERSON_K` + 1 iterates every K epochs, kept
    when it lowers P (Bertrand & Massias 2021, as skglm does): on ill-conditioned working
    sets it cuts the epochs several-fold.  Coefficients that are zero in all the combined
    iterates stay exactly zero.

    Stops when the largest coordinate step of an epoch, |dw_j| sqrt(Q_jj), is at most
    ``step_tol`` x the largest |w_j| sqrt(Q_jj) (steps and coefficients in standardized units,
    so the rule does not depend on the columns' scales) and the subproblem's duality gap is at
    most ``gap_tol`` x its primal value (checked every ``check_every`` epochs; ``gap_tol=inf``:
    not checked); or when that relative step, once below :data:`STALL_FLOOR`, has not reached
    a new minimum for ``patience`` epochs (the rounding floor); or after ``max_epochs``.

    ``Q32``: Q rounded to float32 (same shape), or any other shape for none.  With it, the
    first epochs update g = Qw with its rows (half the bytes: a working set's Gram beyond the
    caches is read at memory speed), g is recomputed exactly from Q (float64) whenever the
    relative step has fallen by :data:`SINGLE_REFRESH` since the last exact g (the rounding of
    the float32 rows only perturbs g in proportion to the steps taken since), and every
    decision to stop is taken on an exact g: once the float32 epochs meet the target, g is
    recomputed and the next epoch decides (it stops only if it meets the target too, its g
    then off by 6e-8 x its own steps, far below float64's rounding of g); once they stop
    improving for :data:`SINGLE_PATIENCE` epochs, g is recomputed and float64 epochs go on.
    The fixed point is the float64 one: the diagonal is always Q's own.

    ``g`` (m,): on return Qw at the returned w (float64).  With ``has_g`` it holds Qw at
    ``g_w`` on entry (a caller's earlier solve), and only the move w - g_w is multiplied
    (by the float32 rows where they are used: its rounding is in proportion to the move);
    otherwise Qw is computed.

    Returns (epochs, status code (see :data:`STATUS`), gap, primal, relative step); gap and
    primal are NaN when the gap was not computed.  A column with Q_jj = 0 keeps w_j = 0.
    """
    m = w.shape[0]
    D = np.empty(m)
    for j in range(m):
        D[j] = Q[j, j]
    single = m > 0 and Q32.shape[0] == m and Q32.shape[1] == m
    if not has_g:
        _matvec(Q, w, g)
    elif single:
        _moved(Q32, w, g_w, g, g)
    else:
        _moved(Q, w, g_w, g, g)
    # [last exact g's relative step, float32 best step, epochs since, verifying,
    #  float64 best step, epochs since]
    st = np.array([math.inf, math.inf, 0.0, 0.0, math.inf, 0.0])
    hist = np.empty((ANDERSON_K + 1, m))
    acc = np.empty(m)
    g_acc = np.empty(m)
    n_hist = 0
    gap = math.nan
    primal = math.nan
    step_rel = math.inf
    for ep in range(1, max_epochs + 1):
        if single:
            max_step, max_w = _epoch(Q32, D, q, w, g, lam1, lam2)
        else:
            max_step, max_w = _epoch(Q, D, q, w, g, lam1, lam2)
        step_rel = max_step / max_w if max_w > 0.0 else 0.0
        if single:
            code, single, primal, gap = _single_check(Q, q, w, g, step_rel, st, lam1, lam2,
                                                      yty, gap_tol, step_tol, primal, gap)
        else:
            code, primal, gap = _double_check(Q, q, w, g, step_rel, st, ep, lam1, lam2, yty,
                                              gap_tol, step_tol, patience, check_every,
                                              primal, gap)
        if code > 0:
            return ep, code, gap, primal, step_rel
        if m > 1 and step_rel > 0.0:
            hist[n_hist] = w
            n_hist += 1
            if n_hist == ANDERSON_K + 1:
                n_hist = 0
                _anderson(Q, Q32, single, q, w, g, hist, acc, g_acc, lam1, lam2, yty)
    if single:
        _matvec(Q, w, g)  # leave Qw exact
    return max_epochs, 0, gap, primal, step_rel


def _mirror_blocks(G):
    """G's strict upper triangle copied onto the lower one, in 64 x 64 tiles (a transposed
    copy that stays in cache)."""
    n = G.shape[0]
    for jb in range(0, n, 64):
        for ib in range(0, jb + 64, 64):
            for j in range(jb, min(jb + 64, n)):
                for i in range(ib, min(ib + 64, j)):
                    G[j, i] = G[i, j]


def gram_rows(G, idx, w):
    """``sum_j w_j G[idx_j, :]`` over the nonzero w_j (= G[:, idx] w for a symmetric G): the
    support's rows read contiguously (:func:`_add_rows`)."""
    out = np.zeros(G.shape[0])
    _add_rows(G, idx, w, out)
    return out


def _gram_rows_numpy(G, idx, w):
    nz = np.flatnonzero(w)
    return w[nz] @ G[idx[nz]] if nz.size else np.zeros(G.shape[0])


enet_gap = _enet_gap
PYTHON = {"enet_gap": _enet_gap, "gram_cd": gram_cd, "gram_rows": _gram_rows_numpy}
"""The uncompiled functions (the same source numba compiles; what runs without numba)."""

try:  # numba is a core dependency; guarded so that a broken install still runs (slowly)
    from gradfit.model import compiling
except Exception:  # pragma: no cover - exercised where numba is missing
    compiling = None
_COMPILED = compiling is not None and compiling.numba is not None

if _COMPILED:
    _jit = compiling.jit(nogil=True, fastmath=False)
    _enet_gap = _jit(_enet_gap)
    _sub_gap = _jit(_sub_gap)
    _primal = _jit(_primal)
    _difference_gram = _jit(_difference_gram)
    _cholesky_solve = _jit(_cholesky_solve)
    _extrapolate = _jit(_extrapolate)
    _add_rows = _jit(_add_rows)
    _matvec = _jit(_matvec)
    _moved = _jit(_moved)
    _epoch = _jit(_epoch)
    _anderson = _jit(_anderson)
    _single_check = _jit(_single_check)
    _double_check = _jit(_double_check)
    _mirror_blocks = _jit(_mirror_blocks)
    enet_gap = compiling.entry()(PYTHON["enet_gap"])
    gram_cd = compiling.entry()(PYTHON["gram_cd"])
    gram_rows = compiling.entry()(gram_rows)
else:  # pragma: no cover - exercised where numba is missing
    gram_rows = _gram_rows_numpy


def available() -> bool:
    """True when the epochs run compiled."""
    return _COMPILED


def mirror_upper(G):
    """Make the square G symmetric from its upper triangle, in place (compiled tiles: 4 ms
    at d = 2000, against 50 ms for numpy's fancy indexing, which runs without numba)."""
    if _COMPILED:
        _mirror_blocks(G)
    else:
        upper = np.triu_indices(G.shape[0], 1)
        G.T[upper] = G[upper]
