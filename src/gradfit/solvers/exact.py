"""The closed-form (exact) least-squares solver, and its reusable sufficient statistics.

Every solver in gradfit minimises the same objective (docs/CORE_API.md); for the squared loss
with an L2 (or no) penalty it has a closed form,

.. math::

    F(w, b) = \\frac{\\sum_i s_i (y_i - x_i^\\top w - b)^2}{\\sum_i s_i}
              + \\frac{\\alpha}{2} \\lVert w \\rVert^2 ,

whose minimiser solves the (ridge) normal equations of the weighted, centred problem

.. math::

    (X_c^\\top S X_c + \\lambda I)\\, w = X_c^\\top S y_c, \\qquad
    \\lambda = \\frac{\\alpha}{2} \\sum_i s_i, \\qquad b = \\bar y - \\bar x^\\top w,

with :math:`S = \\mathrm{diag}(s)`, :math:`\\bar x, \\bar y` the weighted means and
:math:`X_c = X - 1 \\bar x^\\top`, :math:`y_c = y - \\bar y` (no centring without intercept).

Two paths solve it; both precondition with a triangular factor ``R`` of the column-scaled
problem and then run iterative refinement (corrected semi-normal equations):

.. math::

    r = y - X_c w - c, \\qquad
    w \\leftarrow w + C^{-1} R^{-1} R^{-\\top} C^{-1} (X_c^\\top S r - \\lambda w), \\qquad
    c \\leftarrow c + \\frac{\\sum_i s_i r_i}{\\sum_i s_i},

where ``C`` holds the column norms.  Each step shrinks the error by about
``eps * cond(X_c S^(1/2) C^(-1))``, so the answer is as accurate as the arithmetic used for the
residual and the gradient allows.

* **dense** (small ``n``): Householder QR of the scaled matrix in float64; residuals and
  gradients in exact rational arithmetic (Python integers; up to ``n (d + k) <= 20 000``
  cells), otherwise in 80-bit ``np.longdouble`` (plain float64 on platforms without it).
  With exact residuals the result is the exact least-squares solution of the float data
  given, correctly rounded in practice; with long double it is within about
  ``1e-19 * cond^2`` of it.
* **blocked** (tall data): one pass over row blocks accumulates mergeable sufficient statistics
  (:class:`GramStats`), the scaled Gram matrix is factored by Cholesky (or, when it is too
  ill-conditioned, a blockwise TSQR pass builds ``R``), and refinement passes compute the residual
  block by block in float64.  No copy of ``X`` is ever made; accuracy is about ``cond * eps``.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from fractions import Fraction

import numpy as np
from scipy.linalg import get_lapack_funcs, qr, solve_triangular
from threadpoolctl import ThreadpoolController

from gradfit.model.gram import (
    GramStats,
    accumulate_stats,
    block_stats,
    default_block_rows,
    iter_blocks,
)

__all__ = [
    "BIG_N",
    "GramStats",
    "accumulate_stats",
    "block_stats",
    "default_block_rows",
    "iter_blocks",
    "solve_exact",
    "solve_from_gram",
]

BIG_N = 20_000
"""From this many rows on, ``method="auto"`` takes the blocked (Gram) path."""

_EPS = np.finfo(np.float64).eps
_LONGDOUBLE_IS_EXTENDED = np.finfo(np.longdouble).eps < 1e-18
_EXACT_MAX_CELLS = 20_000  # exact rational arithmetic for small problems
_GRAM_RCOND = 1e-10  # below this reciprocal condition of the scaled Gram: blocked TSQR instead
_THREADED_QR_FLOPS = 1e9  # dense QR below this many n*d*d runs on one BLAS thread
_controller: ThreadpoolController | None = None


def _one_blas_thread():
    """Context manager limiting BLAS to one thread.  On this kind of tall-skinny or small work
    OpenBLAS threads cost more than they give (measured 1.1-4x slower with 2 threads, worse on
    a loaded machine)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


# --------------------------------------------------------------------------- arithmetic


def _fractions(a) -> np.ndarray:
    """``a`` as an object array of exact ``Fraction`` values (any binary float dtype)."""
    a = np.asarray(a)
    return _objects([Fraction(*v.as_integer_ratio()) for v in _exact_items(a)]).reshape(a.shape)


def _exact_items(a: np.ndarray) -> list:
    """Python scalars holding the exact values of ``a`` (``tolist`` would round long double)."""
    return list(a.ravel()) if a.dtype == np.longdouble else a.ravel().tolist()


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _dyadic(A: np.ndarray):
    """Exact integers ``N`` (object array) and per-column powers of two ``D`` with ``A = N / D``."""
    pairs = [v.as_integer_ratio() for v in _exact_items(A)]
    P = _objects([p for p, _ in pairs]).reshape(A.shape)
    Q = _objects([q for _, q in pairs]).reshape(A.shape)
    D = Q.max(axis=0)
    return P * (D // Q), D


class _ExactResiduals:
    """Residuals and gradients in exact rational arithmetic (Python integers).

    The data are binary floats, so ``X = N / D`` column by column with integer ``N`` and a power
    of two ``D``; the centring offset ``mu`` is a float too, so ``X - mu`` stays dyadic and the
    two big products ``X_c w`` and ``X_c' S r`` are integer matrix products.
    """

    name = "exact"

    def __init__(self, X, y2, sw, mu, alpha):
        Xn, xd = _dyadic(X)
        mn, md = _dyadic(mu[None, :])
        self.D = np.maximum(xd, md)
        self.Cn = Xn * (self.D // xd) - mn * (self.D // md)
        self.Yn, self.yd = _dyadic(y2)
        Sn, sd = _dyadic(np.ones((len(X), 1)) if sw is None else sw[:, None])
        self.Sn, self.sd = Sn[:, 0], int(sd[0])
        self.weight = Fraction(int(self.Sn.sum()), self.sd)
        self.lam = Fraction(alpha) * self.weight / 2
        self.mu = _fractions(mu)
        self.to_ext = _fractions

    def mean_y(self):
        sums = self.Sn @ self.Yn
        return _objects([Fraction(int(t), int(q) * self.sd) / self.weight
                         for t, q in zip(sums, self.yd)])

    def gradient(self, w, c):
        gw, gc = np.empty(w.shape, dtype=object), np.empty(len(c), dtype=object)
        for l in range(w.shape[1]):
            u = w[:, l] / self.D
            den = math.lcm(*(f.denominator for f in u), Fraction(c[l]).denominator, self.yd[l])
            U = _objects([f.numerator * (den // f.denominator) for f in u])
            R = self.Yn[:, l] * (den // self.yd[l]) - self.Cn @ U - int(c[l] * den)
            SR = self.Sn * R
            scale = self.sd * den
            gw[:, l] = [Fraction(int(g), int(Dj) * scale) for g, Dj in zip(self.Cn.T @ SR, self.D)]
            gc[l] = Fraction(int(SR.sum()), scale)
        return gw - self.lam * w, gc


class _LongdoubleResiduals:
    """Residuals and gradients in ``np.longdouble`` (80-bit on x86; float64 elsewhere)."""

    name = "longdouble" if _LONGDOUBLE_IS_EXTENDED else "float64"

    def __init__(self, X, y2, sw, mu, alpha):
        ld = np.longdouble
        self.Xc = np.asarray(X, dtype=ld) - np.asarray(mu, dtype=ld)
        self.y = np.asarray(y2, dtype=ld)
        self.s = np.ones(len(X), dtype=ld) if sw is None else np.asarray(sw, dtype=ld)
        self.weight = self.s.sum()
        self.lam = ld(alpha) * self.weight / 2
        self.mu = np.asarray(mu, dtype=ld)

    @staticmethod
    def to_ext(a):
        return np.asarray(a, dtype=np.longdouble)

    def mean_y(self):
        return self.s @ self.y / self.weight

    def gradient(self, w, c):
        r = (self.y - self.Xc @ w - c) * self.s[:, None]
        return self.Xc.T @ r - self.lam * w, r.sum(axis=0)


def _to_float(a) -> np.ndarray:
    return np.asarray(a).astype(np.float64)


# --------------------------------------------------------------------------- preconditioner


class _Factor:
    """Apply ``P ~= (X_c' S X_c + lam I)^+`` in original coordinates.

    ``P = C^-1 R^-1 R^-T C^-1`` on the active (non-constant) columns, from an upper triangular
    ``R`` with ``R'R ~= C^-1 (X_c' S X_c + lam I) C^-1``; or, for a numerically rank-deficient
    ``R``, ``C^-1 V diag(1/sigma^2) V' C^-1`` over the kept singular directions (a minimum-norm
    solution in scaled coordinates).  Constant columns get a zero coefficient.
    """

    def __init__(self, scale, active, R=None, V=None, inv_sq=None, cond=1.0):
        self.scale, self.active = scale, active
        self.R, self.V, self.inv_sq = R, V, inv_sq
        self.cond = cond
        self.rank = int(active.sum()) if V is None else V.shape[1]

    def solve(self, g: np.ndarray) -> np.ndarray:
        """``P @ g`` for ``g`` of shape ``(d, k)``."""
        out = np.zeros_like(g, dtype=np.float64)
        if self.rank == 0:
            return out
        c = self.scale[self.active, None]
        gz = g[self.active] / c
        if self.V is None:
            z = solve_triangular(self.R, solve_triangular(self.R, gz, trans="T"))
        else:
            z = self.V @ (self.inv_sq[:, None] * (self.V.T @ gz))
        out[self.active] = z / c
        return out


def _rank_tol(d: int) -> float:
    return 8.0 * max(d, 1) * _EPS


def _factor_from_r(R: np.ndarray, scale, active) -> _Factor:
    """Preconditioner from the triangular ``R`` of the scaled problem; pseudo-inverse (SVD of
    ``R``) only when ``R`` is singular to working precision."""
    d = R.shape[0]
    if d == 0:
        return _Factor(scale, active, R=R)
    trcon = get_lapack_funcs("trcon", (R,))
    rcond, _ = trcon(R, norm="1", uplo="U", diag="N")
    if rcond > _rank_tol(d):
        return _Factor(scale, active, R=R, cond=1.0 / rcond)
    return _pinv_factor(*np.linalg.svd(R)[1:], scale, active, squared=False)


def _pinv_factor(sv, Vt, scale, active, squared: bool) -> _Factor:
    """Truncated pseudo-inverse from the singular values ``sv`` of ``R`` (or, when ``squared``,
    the eigenvalues of ``R'R``) and the right vectors ``Vt`` (rows)."""
    sv = np.asarray(sv, dtype=np.float64)
    tol = _rank_tol(len(sv))
    if squared:  # eigenvalues of a Gram matrix carry an absolute error of about eps * max
        sv, tol = np.sqrt(np.maximum(sv, 0.0)), np.sqrt(tol)
    top = sv.max() if sv.size else 0.0
    keep = sv > top * tol
    cond = top / sv[keep].min() if keep.any() else np.inf
    return _Factor(scale, active, V=Vt[keep].T, inv_sq=1.0 / sv[keep] ** 2, cond=cond)


def _column_scale(diag: np.ndarray):
    """Scale = column norm of the weighted centred data; exact zeros mark constant columns."""
    active = diag > 0
    return np.where(active, np.sqrt(np.where(active, diag, 1.0)), 1.0), active


def _cholesky_factor(G: np.ndarray, lam: float, scale, active):
    """Cholesky factor of the scaled ``G + lam I``; ``(factor, rcond)``, factor None if it fails."""
    c = scale[active]
    Gs = G[np.ix_(active, active)] / np.outer(c, c) + np.diag(lam / c**2)
    if Gs.shape[0] == 0:
        return _Factor(scale, active, R=Gs), 1.0
    potrf, pocon = get_lapack_funcs(("potrf", "pocon"), (Gs,))
    R, info = potrf(Gs, lower=False, clean=True)
    if info != 0:
        return None, 0.0
    rcond, _ = pocon(R, np.abs(Gs).sum(axis=0).max())
    return _Factor(scale, active, R=R, cond=float(np.sqrt(1.0 / max(rcond, 1e-300)))), rcond


# --------------------------------------------------------------------------- refinement


def _refine(gradient, factor: _Factor, w, c, weight, to_ext, *, fit_intercept: bool,
            max_steps: int, tol: float):
    """Iterative refinement ``w += P g_w``, ``c += g_c / sum(s)`` until the scaled correction is
    below ``tol`` (relative) or stops shrinking.  ``w``, ``c`` are in the gradient's arithmetic.

    Returns ``(w, c, steps, last relative correction)``.
    """
    prev, rel, steps = np.inf, np.inf, 0
    sqrt_w = np.sqrt(float(weight))
    for steps in range(1, max_steps + 1):  # noqa: B007  (steps is a result)
        gw, gc = gradient(w, c)
        dw = factor.solve(_to_float(gw))
        w = w + to_ext(dw)
        dc = np.zeros(0)
        if fit_intercept:
            dc_ext = gc / weight
            c = c + dc_ext
            dc = _to_float(dc_ext) * sqrt_w
        size = np.hypot(np.linalg.norm(factor.scale[:, None] * dw), np.linalg.norm(dc))
        ref = np.hypot(np.linalg.norm(factor.scale[:, None] * _to_float(w)),
                       np.linalg.norm(_to_float(c)) * sqrt_w)
        rel = size / ref if ref > 0 else 0.0
        if rel <= tol or rel > 0.5 * prev:
            break
        prev = rel
    return w, c, steps, float(rel)


# --------------------------------------------------------------------------- dense path


def _solve_dense(X, y2, sw, fit_intercept: bool, alpha: float, exact: bool):
    """QR of the scaled centred matrix in float64; refinement in exact or long double
    arithmetic."""
    n, d = X.shape
    mu = _dense_mean(X, sw) if fit_intercept else np.zeros(d, dtype=np.longdouble)
    if exact:
        res = _ExactResiduals(X, y2, sw, mu.astype(np.float64), alpha)
    else:
        res = _LongdoubleResiduals(X, y2, sw, mu, alpha)
    Xc = _to_float(np.asarray(X, dtype=np.longdouble) - mu)
    factor = _dense_factor(Xc, sw, float(res.lam))
    k = y2.shape[1]
    c0 = res.mean_y() if fit_intercept else res.to_ext(np.zeros(k))
    w, c, steps, rel = _refine(res.gradient, factor, res.to_ext(np.zeros((d, k))), c0,
                               res.weight, res.to_ext, fit_intercept=fit_intercept,
                               max_steps=12, tol=1e-24 if exact else 1e-18)
    intercept = _to_float(c - res.mu @ w)
    info = {"method": "dense-qr", "rank": factor.rank, "cond": factor.cond,
            "refinement_steps": steps, "correction": rel, "arithmetic": res.name}
    return _to_float(w), intercept, info


def _dense_mean(X, sw) -> np.ndarray:
    """Weighted column means in long double, shifted by the first row so that constant columns
    are exact."""
    X = np.asarray(X, dtype=np.longdouble)
    s = np.ones(len(X), dtype=np.longdouble) if sw is None else np.asarray(sw, np.longdouble)
    return X[0] + (s @ (X - X[0])) / s.sum()


def _dense_factor(Xc: np.ndarray, sw, lam: float) -> _Factor:
    """Householder QR of ``[S^(1/2) X_c C^-1; sqrt(lam) C^-1]`` (active columns)."""
    A = Xc if sw is None else Xc * np.sqrt(sw)[:, None]
    scale, active = _column_scale(np.einsum("ij,ij->j", A, A))
    c = scale[active]
    stacked = np.vstack([A[:, active] / c, np.diag(np.sqrt(lam) / c)])
    R = qr(stacked, mode="r", check_finite=False)[0][: len(c)]
    return _factor_from_r(R, scale, active)


# --------------------------------------------------------------------------- statistics


def _normal_equations(stats: GramStats, fit_intercept: bool):
    """``(G, B, mu, ybar)``: (un)centred ``X'SX``, ``X'Sy`` and the centring offsets."""
    if fit_intercept:
        return stats.gram, stats.xty, stats.mean_x, stats.mean_y
    mx, my, W = stats.mean_x, stats.mean_y, stats.weight
    G = stats.gram + W * np.outer(mx, mx)
    B = stats.xty + W * np.outer(mx, my)
    return G, B, np.zeros_like(mx), np.zeros_like(my)


def _gram_factor(G: np.ndarray, lam: float) -> _Factor:
    """Cholesky of the scaled Gram matrix, or its truncated eigen-pseudo-inverse if singular."""
    scale, active = _column_scale(np.diag(G).copy())
    factor, rcond = _cholesky_factor(G, lam, scale, active)
    if factor is not None and rcond > _rank_tol(int(active.sum())):
        return factor
    c = scale[active]
    Gs = G[np.ix_(active, active)] / np.outer(c, c) + np.diag(lam / c**2)
    evals, evecs = np.linalg.eigh(Gs)
    return _pinv_factor(evals, evecs.T, scale, active, squared=True)


def _shape_result(w, b, y_1d: bool):
    if y_1d:
        return w[:, 0], float(b[0])
    return w, np.asarray(b, dtype=np.float64)


def solve_from_gram(stats: GramStats, alpha: float = 0.0, fit_intercept: bool = True):
    """Solve the (ridge) least-squares problem from sufficient statistics alone.

    Minimises ``sum_i s_i (y_i - x_i.w - b)^2 / sum_i s_i + (alpha/2) ||w||^2`` given the
    :class:`GramStats` of all rows, by Cholesky of the column-scaled normal equations
    ``(C^-1 G C^-1 + lam C^-2) z = C^-1 X'Sy``, ``w = C^-1 z``, ``lam = alpha sum(s) / 2``
    (a truncated eigen-pseudo-inverse when that matrix is singular).  Without the data no
    refinement is possible: the relative error is about ``eps * cond(G)``.

    Returns
    -------
    coef : ndarray of shape (d,) or (d, k)
    intercept : float or ndarray of shape (k,)
    info : dict
    """
    G, B, mu, ybar = _normal_equations(stats, fit_intercept)
    factor = _gram_factor(G, alpha * stats.weight / 2)
    w = factor.solve(B)
    b = ybar - mu @ w
    coef, intercept = _shape_result(w, b, stats.y_1d)
    info = {"method": "gram-cholesky" if factor.V is None else "gram-pinv",
            "rank": factor.rank, "cond": factor.cond, "refinement_steps": 0}
    return coef, intercept, info


# --------------------------------------------------------------------------- blocked path


def _tsqr_factor(X, sw, mu, scale, active, lam, block_rows) -> _Factor:
    """``R`` of ``[S^(1/2) (X - mu) C^-1; sqrt(lam) C^-1]`` by one blockwise TSQR pass."""
    c = scale[active]
    p = len(c)
    stack = np.empty((p + block_rows, p), order="F")
    R = np.zeros((p, p))
    for Xb, _, sb in iter_blocks(X, None, sw, block_rows):
        m = len(Xb)
        A = stack[p:p + m]
        np.subtract(Xb[:, active], mu[active], out=A)
        A /= c
        if sb is not None:
            A *= np.sqrt(sb)[:, None]
        stack[:p] = R
        R = qr(stack[:p + m], mode="r", check_finite=False)[0][:p]
    R = qr(np.vstack([R, np.diag(np.sqrt(lam) / c)]), mode="r", check_finite=False)[0][:p]
    return _factor_from_r(R, scale, active)


def _blocked_gradient(X, y2, sw, mu, lam, block_rows, centre: bool, w, c):
    """``(X_c' S r - lam w, sum S r)`` with ``r = y - X_c w - c``, block by block in float64.

    With ``centre`` each block is centred in a buffer first; otherwise ``X_c w`` is computed as
    ``X w - mu'w`` (as accurate when the means are not large against the spreads, and faster).
    """
    gw = np.zeros_like(w)
    gc = np.zeros(y2.shape[1])
    offset = c if centre else c - mu @ w
    buf = np.empty((min(block_rows, len(X)), X.shape[1])) if centre else None
    for Xb, yb, sb in iter_blocks(X, y2, sw, block_rows):
        Xc = np.subtract(Xb, mu, out=buf[: len(Xb)]) if centre else Xb
        r = yb - Xc @ w
        r -= offset
        if sb is not None:
            r *= sb[:, None]
        gw += Xc.T @ r
        gc += r.sum(axis=0)
    if not centre:
        gw -= np.outer(mu, gc)
    return gw - lam * w, gc


def _solve_blocked(X, y2, sw, fit_intercept: bool, alpha: float, block_rows=None):
    """Gram statistics + Cholesky (or TSQR) + float64 refinement passes over row blocks."""
    block_rows = block_rows or default_block_rows(X.shape[1])
    stats = accumulate_stats(iter_blocks(X, y2, sw, block_rows))
    G, B, mu, ybar = _normal_equations(stats, fit_intercept)
    lam = alpha * stats.weight / 2
    scale, active = _column_scale(np.diag(G).copy())
    factor, rcond = _cholesky_factor(G, lam, scale, active)
    method = "blocked-cholesky"
    if factor is None or rcond < _GRAM_RCOND:
        factor = _tsqr_factor(X, sw, mu, scale, active, lam, block_rows)
        method = "blocked-tsqr"
    w = factor.solve(B)
    # centre the blocks only where some mean is large against its column's spread
    spread = np.sqrt(np.diag(stats.gram) / stats.weight)
    centre = bool(np.any(np.abs(mu) > spread))

    def gradient(w, c):
        return _blocked_gradient(X, y2, sw, mu, lam, block_rows, centre, w, c)

    w, c, steps, rel = _refine(gradient, factor, w, ybar.copy(), stats.weight, np.asarray,
                               fit_intercept=fit_intercept, max_steps=3, tol=1e-12)
    info = {"method": method, "rank": factor.rank, "cond": factor.cond,
            "refinement_steps": steps, "correction": rel, "arithmetic": "float64"}
    return w, c - mu @ w, info


# --------------------------------------------------------------------------- public entry


def solve_exact(X, y, sample_weight=None, fit_intercept=True, alpha=0.0, *, method="auto",
                block_rows=None):
    """Minimise the squared-loss objective exactly.

    .. math::

        \\min_{w, b}\\; \\frac{\\sum_i s_i (y_i - x_i^\\top w - b)^2}{\\sum_i s_i}
        + \\frac{\\alpha}{2} \\lVert w \\rVert^2

    The intercept ``b`` is never penalised (and is 0 when ``fit_intercept`` is False); its
    minimiser is ``b = ybar - xbar' w`` for the weighted means, and ``w`` solves
    ``(X_c' S X_c + lam I) w = X_c' S y_c`` with ``lam = alpha * sum(s) / 2``.  No inverse is
    formed: a triangular factor of the column-scaled problem preconditions iterative refinement
    with residuals in extended (dense path) or float64 (blocked path) arithmetic.
    Constant columns get coefficient 0; a rank-deficient ``X`` gets the minimum-norm solution
    in column-scaled coordinates.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite float data (float32, float64 or longdouble).
    y : ndarray of shape (n,) or (n, k)
    sample_weight : ndarray of shape (n,) or None
        Non-negative weights ``s``; None means all ones.
    fit_intercept : bool
    alpha : float
        L2 penalty strength (0 for ordinary least squares).
    method : {"auto", "dense", "blocked"}
        "dense": QR plus exact (small problems) or long double refinement.
        "blocked": one pass of mergeable Gram statistics, Cholesky (TSQR when the scaled Gram
        has reciprocal condition below 1e-10) and float64 refinement passes over row blocks;
        memory-lean, accuracy about ``cond * eps``.  "auto": "blocked" when ``n >= BIG_N`` and
        ``n >= 2 d``, else "dense".
    block_rows : int or None
        Rows per block on the blocked path (default: about 1 MiB of float64 per block).

    Returns
    -------
    coef : ndarray of shape (d,) or (d, k), matching ``y.ndim``
    intercept : float or ndarray of shape (k,)
    info : dict
        ``method``, ``rank``, ``cond`` (estimated condition of the scaled problem),
        ``refinement_steps``, ``correction`` (last relative refinement step), ``arithmetic``.
    """
    X, y = np.asarray(X), np.asarray(y)
    n, d = X.shape
    y2 = _as_2d(y)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if method == "auto":
        method = "blocked" if n >= BIG_N and n >= 2 * d else "dense"
    if method == "dense":
        exact = n * (d + y2.shape[1]) <= _EXACT_MAX_CELLS
        with _one_blas_thread() if n * d * d <= _THREADED_QR_FLOPS else nullcontext():
            w, b, info = _solve_dense(X, y2, sw, fit_intercept, float(alpha), exact)
    elif method == "blocked":
        with _one_blas_thread():
            w, b, info = _solve_blocked(X, y2, sw, fit_intercept, float(alpha), block_rows)
    else:
        raise ValueError(f"method must be 'auto', 'dense' or 'blocked', got {method!r}")
    if not fit_intercept:
        b = np.zeros_like(b)
    coef, intercept = _shape_result(w, b, y.ndim == 1)
    return coef, intercept, info


def _as_2d(y):
    return y[:, None] if y.ndim == 1 else y


def exact_result(p, X, y2, sw):
    """The closed form as a :class:`~gradfit.model.result.FitResult` (coefficients (d, k)),
    for validated in-memory arrays and fitting parameters ``p`` (squared loss, a smooth
    penalty).  The objective is evaluated in long double."""
    from gradfit.model.result import FitResult, History

    pen = p.penalty_record
    coef, icpt, info = solve_exact(X, y2, sample_weight=sw, fit_intercept=p.fit_intercept,
                                   alpha=pen.l2)
    coef = np.asarray(coef, float).reshape(X.shape[1], y2.shape[1])
    icpt = np.asarray(icpt, float).reshape(y2.shape[1])
    ld = np.longdouble
    r = np.asarray(y2, ld) - np.asarray(X, ld) @ coef.astype(ld) - icpt.astype(ld)
    s = np.ones(len(X), ld) if sw is None else np.asarray(sw, ld)
    f = float((s @ (r * r)).sum() / s.sum()) + pen.value(coef)
    hist = History(4)
    hist.append(0, f, 0.0, np.nan, 0.0, coef, icpt)
    cert = {"method": "closed-form", "digits": None, "grad_norm": 0.0, "grad_norm_rel": 0.0,
            "coef_rel_error": None, "objective_gap_rel": 0.0}
    return FitResult(coef, icpt, 1, True, "closed-form least-squares solution", f, hist,
                     solver="exact", info=dict(info), certificate=cert)
