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

One algorithm solves it for every source (arrays in memory, files, a Dask cluster), written
against the backend's ``map_reduce`` only:

1. one pass of mergeable sufficient statistics (:class:`GramStats`);
2. a triangular factor ``R`` of the column-scaled problem: Cholesky of the scaled Gram matrix
   when its reciprocal condition allows (>= 1e-10), else a second pass of blockwise
   Householder QR factors merged by QR (TSQR, backward stable: cond(R) = cond(X) instead of
   its square);
3. iterative refinement passes (corrected semi-normal equations):

.. math::

    r = y - X_c w - c, \\qquad
    w \\leftarrow w + C^{-1} R^{-1} R^{-\\top} C^{-1} (X_c^\\top S r - \\lambda w), \\qquad
    c \\leftarrow c + \\frac{\\sum_i s_i r_i}{\\sum_i s_i},

where ``C`` holds the column norms.  Each step shrinks the error by about
``eps * cond(X_c S^(1/2) C^(-1))``, so the answer is as accurate as the arithmetic used for
the residual and the gradient allows.  That arithmetic follows the problem's condition (the
cost is paid only where it buys digits): float64 first (BLAS, block by block); when the
estimated condition makes float64 short of full precision, further steps in exact rational
arithmetic (Python integers, for up to ``n (d + k) <= 20 000`` cells: the exact
least-squares solution of the float data given, correctly rounded in practice) or else in
80-bit long double (within about ``1e-19 cond`` of it).  Data given in long double (NIST's
Filip, whose powers need it) are used to the full.  No copy of ``X`` is made.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from fractions import Fraction
from functools import partial

import numpy as np
from scipy.linalg import get_lapack_funcs, qr

from gradfit.model.backend import InMemory, capabilities
from gradfit.model.gram import (
    GramStats,
    accumulate_stats,
    block_stats,
    default_block_rows,
    gram_pass,
    iter_blocks,
    stats_threads,
)
from gradfit.model.kernels import blas_single_thread
from gradfit.model.sparse import dense_rows
from gradfit.solvers.certificate import coefficient_digits, normwise_error
from gradfit.solvers.exact_sparse import GRAM_MAX_D as SPARSE_GRAM_MAX_D
from gradfit.solvers.exact_sparse import solve_lsmr

__all__ = [
    "BIG_N",
    "GramStats",
    "accumulate_stats",
    "block_stats",
    "default_block_rows",
    "iter_blocks",
    "solve_backend",
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
            z = _tri_solve(self.R, _tri_solve(self.R, gz, trans=1), trans=0)
        else:
            z = self.V @ (self.inv_sq[:, None] * (self.V.T @ gz))
        out[self.active] = z / c
        return out


def _tri_solve(R, B, trans: int):
    """R^-1 B (trans 0) or R^-T B (trans 1) for upper triangular R, by LAPACK's trtrs
    directly (scipy's solve_triangular goes through threaded BLAS, which costs milliseconds on
    small matrices on a loaded machine)."""
    trtrs = get_lapack_funcs("trtrs", (R, B))
    x, info = trtrs(R, B, lower=0, trans=trans)
    if info != 0:
        raise np.linalg.LinAlgError(f"singular triangular factor (trtrs info {info})")
    return x


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


# --------------------------------------------------------------------------- passes


def _arith_blocks(X, Y, s, rows):
    """Row blocks of one backend block (a backend hands its whole block to the pass)."""
    for start in range(0, X.shape[0], rows):
        stop = start + rows
        yield X[start:stop], Y[start:stop], None if s is None else s[start:stop]


def _float64_pass(X, Y, s, *, mu, w, c, centre=True):
    """(X_c' S r, sum S r, sum S r^2) with r = y - X_c w - c, in float64, block by block.
    Without ``centre`` (the means are small against the spreads) X_c w is X w - mu.w and
    no centred copy of a block is made."""
    gw, gc, rss = np.zeros((X.shape[1], Y.shape[1])), np.zeros(Y.shape[1]), np.zeros(Y.shape[1])
    mu = np.asarray(mu, np.float64)
    offset = c if centre else c - mu @ w
    for Xb, Yb, sb in _arith_blocks(X, Y, s, default_block_rows(X.shape[1])):
        Xc = np.asarray(Xb, np.float64) - mu if centre else Xb
        r = np.asarray(Yb, np.float64) - Xc @ w
        r -= offset
        sr = r if sb is None else r * sb[:, None]
        rss += (sr * r).sum(axis=0)
        gw += Xc.T @ sr
        gc += sr.sum(axis=0)
    if not centre:
        gw -= np.outer(mu, gc)
    return gw, gc, rss


def _longdouble_pass(X, Y, s, *, mu, w, c):
    """The same sums in np.longdouble (80-bit on x86)."""
    ld = np.longdouble
    k = Y.shape[1]
    gw, gc, rss = np.zeros((X.shape[1], k), ld), np.zeros(k, ld), np.zeros(k, ld)
    mu = np.asarray(mu, ld)
    for Xb, Yb, sb in _arith_blocks(X, Y, s, default_block_rows(X.shape[1])):
        Xc = np.asarray(Xb, ld) - mu
        r = np.asarray(Yb, ld) - Xc @ w - c
        sr = r if sb is None else r * np.asarray(sb, ld)[:, None]
        rss += (sr * r).sum(axis=0)
        gw += Xc.T @ sr
        gc += sr.sum(axis=0)
    return gw, gc, rss


def _exact_pass(X, Y, s, *, mu, w, c):
    """The same sums exactly, as Fractions: the data are binary floats, so ``X = N / D``
    column by column with integer ``N`` and a power of two ``D``, and with a float ``mu``
    the two big products ``X_c w`` and ``X_c' S r`` are integer matrix products."""
    Xn, xd = _dyadic(np.asarray(X))
    mn, md = _dyadic(np.asarray(mu)[None, :])
    D = np.maximum(xd, md)
    Cn = Xn * (D // xd) - mn * (D // md)
    Yn, yd = _dyadic(np.asarray(Y))
    Sn, sd = _dyadic(np.ones((len(X), 1)) if s is None else np.asarray(s)[:, None])
    Sn, sd = Sn[:, 0], int(sd[0])
    k = Y.shape[1]
    gw, gc = np.empty((X.shape[1], k), dtype=object), np.empty(k, dtype=object)
    rss = np.empty(k, dtype=object)
    for l in range(k):
        u = w[:, l] / D
        den = math.lcm(*(f.denominator for f in u), Fraction(c[l]).denominator, int(yd[l]))
        U = _objects([f.numerator * (den // f.denominator) for f in u])
        R = Yn[:, l] * (den // yd[l]) - Cn @ U - int(c[l] * den)
        SR = Sn * R
        scale = sd * den
        gw[:, l] = [Fraction(int(g), int(Dj) * scale) for g, Dj in zip(Cn.T @ SR, D)]
        gc[l] = Fraction(int(SR.sum()), scale)
        rss[l] = Fraction(int(SR @ R), scale * den)
    return gw, gc, rss


ARITHMETIC = {"float64": (_float64_pass, lambda a: np.asarray(a, np.float64)),
              "longdouble": (_longdouble_pass, lambda a: np.asarray(a, np.longdouble)),
              "exact": (_exact_pass, _fractions)}


def _tsqr(data, mu, scale, active, lam) -> _Factor:
    """``R`` of ``[S^(1/2) (X - mu) C^-1; sqrt(lam) C^-1]`` (active columns) by one pass of
    blockwise Householder QR, the blocks' factors merged by QR of the stacked pair."""
    c = scale[active]
    p = len(c)
    mu_a = np.asarray(mu, np.float64)[active]

    def block(X, Y, s):
        R = np.zeros((p, p))
        for Xb, _, sb in _arith_blocks(X, Y, s, default_block_rows(X.shape[1])):
            A = (np.asarray(dense_rows(Xb[:, active]), np.float64) - mu_a) / c
            if sb is not None:
                A *= np.sqrt(sb)[:, None]
            R = qr(np.vstack([R, A]), mode="r", check_finite=False)[0][:p]
        return (R,)

    def merge(a, b):
        return (qr(np.vstack([a[0], b[0]]), mode="r", check_finite=False)[0][:p],)

    (R,) = data.map_reduce(block, merge)
    R = qr(np.vstack([R, np.diag(np.sqrt(lam) / c)]), mode="r", check_finite=False)[0][:p]
    return _factor_from_r(R, scale, active)


# --------------------------------------------------------------------------- the algorithm

EXTENDED_ABOVE_ERROR = 1e-14
"""float64 refinement is followed by extended steps when the error it can reach, about
cond x eps, is above this (14 digits and more need them)."""


LONGDOUBLE_MAX_CELLS = 1_000_000
"""Well-conditioned data up to this many values get one long-double refinement step."""


def solve_backend(data, *, fit_intercept=True, alpha=0.0, factor="auto", arithmetic="auto",
                  refine=True, stats=None):
    """Minimise the squared-loss objective exactly on any backend (see the module docstring).

    Parameters
    ----------
    data : a backend with ``map_reduce`` (``n``, ``d``, ``k`` too)
    fit_intercept : bool
    alpha : float
        The L2 penalty's strength (0: ordinary least squares).
    factor : {"auto", "gram", "tsqr"}
        "auto": Cholesky of the scaled Gram matrix unless its reciprocal condition is below
        1e-10, then TSQR (one more pass).
    arithmetic : {"auto", "float64", "longdouble", "exact"}
        The refinement's arithmetic; "auto" follows the condition number and the size.
    refine : bool
        False: the factor's solution only (no refinement pass; about cond^2 eps).
    stats : GramStats, optional
        Already computed for these data.

    Returns
    -------
    w : ndarray (d, k)
    b : ndarray (k,)
    info : dict
        ``method``, ``rank``, ``cond``, ``refinement_steps``, ``correction``,
        ``arithmetic``, ``rss`` (the weighted residual sum of squares per output), ``passes``.
    """
    sparse = capabilities(data).sparse  # CSR rows: never densified (gradfit.model.sparse)
    if sparse and stats is None and data.d > SPARSE_GRAM_MAX_D:
        return solve_lsmr(data, fit_intercept=fit_intercept, alpha=alpha)
    stats = gram_pass(data) if stats is None else stats
    passes = 1
    G, B, mu, ybar = _normal_equations(stats, fit_intercept)
    lam = alpha * stats.weight / 2
    scale, active = _column_scale(np.diag(G).copy())
    fac, rcond = (None, 0.0) if factor == "tsqr" else _cholesky_factor(G, lam, scale, active)
    method = "gram-cholesky"
    if factor == "tsqr" or (factor == "auto" and (fac is None or rcond < _GRAM_RCOND)):
        fac, method = _tsqr(data, mu, scale, active, lam), "tsqr"
        passes += 1
    elif fac is None:
        fac, method = _gram_factor(G, lam), "gram-pinv"
    w = fac.solve(B)
    c = ybar.copy()
    info = {"method": method, "rank": fac.rank, "cond": fac.cond, "refinement_steps": 0,
            "correction": np.nan, "arithmetic": "none"}
    rss = None
    if refine:
        # sparse rows: float64 passes that fold the centring in (X w - mu.w)
        chosen = "float64" if sparse else _choose_arithmetic(arithmetic, data, fac)
        spread = np.sqrt(np.maximum(np.diag(stats.gram), 0.0) / stats.weight)
        centre = not sparse and bool(np.any(np.abs(mu) > spread))  # else X w - mu.w is as
        # accurate
        # float64 steps (cheap) into the basin of an extended arithmetic, then its steps
        # until a correction is at the rounding level of the answer
        plan = [("float64", 3, 1e-14 if chosen == "float64" else 1e-10)]
        if chosen != "float64":
            plan.append((chosen, 12, 1e-14))
        steps = 0
        for name, max_steps, tol in plan:
            w, c, n_steps, rel, rss = _refine_pass(data, name, fac, w, c, mu, lam, stats.weight,
                                                   fit_intercept, max_steps, tol, centre)
            steps += n_steps
            passes += n_steps
            info.update(arithmetic=name, correction=rel)
        info["refinement_steps"] = steps
        # the intercept in the refinement's arithmetic: b = c - mu . w cancels when the
        # means are large, and float64 would round the difference
        mu_ext = ARITHMETIC[plan[-1][0]][1](np.asarray(mu, np.float64) if plan[-1][0] == "exact"
                                            else mu)
        b = np.asarray(c - mu_ext @ w).astype(np.float64) if fit_intercept else \
            np.zeros(np.shape(w)[1])
        w = np.asarray(w).astype(np.float64)
    else:
        b = c - mu @ w if fit_intercept else np.zeros(w.shape[1])
    c = np.asarray(c).astype(np.float64)
    info.update(rss=np.maximum(np.asarray(rss, np.float64), 0.0), passes=passes,
                **error_bound(info, fac, w, b, c, mu, stats.weight, fit_intercept))
    return w, b, info


UNIT_ROUNDOFF = {"float64": _EPS / 2, "longdouble": np.finfo(np.longdouble).eps / 2
                 if _LONGDOUBLE_IS_EXTENDED else _EPS / 2, "exact": 0.0}
"""Unit roundoff u of the refinement's last arithmetic (its residuals and gradients)."""


def error_bound(info, fac, w, b, c, mu, weight, fit_intercept) -> dict:
    r"""A bound on the closed form's error, per coefficient, for the certificate.

    Refinement in an arithmetic of unit roundoff :math:`u` converges to within about
    :math:`\kappa u` of the optimum, normwise (:math:`\kappa` the condition of the scaled
    centred data, ``fac.cond``); the last step leaves at most :math:`\rho` times its own size;
    the final rounding to float64 adds :math:`u_{64}` to each coefficient:

    .. math::

        e = 8\sqrt{d}\,\kappa u + \rho\,\text{last correction}, \qquad
        |\delta w_j| \le e\,\lVert C w\rVert / C_j + u_{64} |w_j|, \qquad
        |\delta b| \le \textstyle\sum_j |\mu_j|\,e\,\lVert C w\rVert / C_j
        + e\,(|c| + \lVert C w\rVert / \sqrt{S}) + u_{64} |b|

    (``C`` the column norms, ``c`` the centred intercept, ``S`` the total weight, ``b = c -
    mu.w`` formed in the refinement's arithmetic; the :math:`8\sqrt d` covers the condition
    estimate's looseness; :math:`\rho = \min(1/2, 8\sqrt d\,\kappa^2 u_{64})` bounds the
    contraction of a refinement step).  Without refinement the normal equations'
    :math:`\kappa^2 u_{64}` applies.  Returns ``coef_error`` (d, k), ``intercept_error``
    (k,), ``centred_intercept_error`` (k,), ``spread`` (d,) and ``centred_intercept`` (k,)."""
    d = max(int(np.size(fac.scale)), 1)
    kappa = float(fac.cond) if np.isfinite(fac.cond) else np.inf
    u = UNIT_ROUNDOFF.get(info.get("arithmetic"))
    step = info.get("correction", np.nan)
    contraction = min(0.5, 8.0 * np.sqrt(d) * kappa ** 2 * _EPS)  # per refinement step
    e = (kappa ** 2 * _EPS if u is None else 8.0 * np.sqrt(d) * kappa * u) + (
        contraction * float(step) if np.isfinite(step) else 0.0)
    u64 = _EPS / 2
    scale = np.where(fac.active, fac.scale, np.inf)
    size = np.linalg.norm(fac.scale[:, None] * w, axis=0)  # (k,)
    spread_part = np.where(fac.active[:, None], e * size[None, :] / scale[:, None], 0.0)
    dw = spread_part + u64 * np.abs(w)
    zeros = np.zeros_like(size)
    dbt = e * (np.abs(c) + size / np.sqrt(weight)) if fit_intercept else zeros
    db = np.abs(mu) @ spread_part + dbt + u64 * np.abs(b) if fit_intercept else zeros
    return {"coef_error": dw, "intercept_error": db, "centred_intercept_error": dbt,
            "spread": np.where(fac.active, fac.scale, 0.0) / np.sqrt(weight),
            "centred_intercept": c if fit_intercept else zeros}


def _choose_arithmetic(arithmetic, data, fac) -> str:
    """The arithmetic of the last refinement steps.  "auto": where float64 falls short of
    full precision (cond x eps above :data:`EXTENDED_ABOVE_ERROR`), exact rational for tiny
    data and long double otherwise; for well-conditioned data up to
    :data:`LONGDOUBLE_MAX_CELLS` values one cheap long-double step (the last ulps, and an
    intercept that cancels); float64 alone beyond."""
    if arithmetic != "auto":
        if arithmetic not in ARITHMETIC:
            raise ValueError(f"arithmetic must be 'auto' or one of {sorted(ARITHMETIC)}, got "
                             f"{arithmetic!r}")
        return arithmetic
    cells = data.n * (data.d + data.k)
    ld = "longdouble" if _LONGDOUBLE_IS_EXTENDED else "float64"
    if fac.cond * _EPS > EXTENDED_ABOVE_ERROR:
        return "exact" if cells <= _EXACT_MAX_CELLS else ld
    return ld if cells <= LONGDOUBLE_MAX_CELLS else "float64"


def _refine_pass(data, name, fac, w, c, mu, lam, weight, fit_intercept, max_steps, tol,
                 centre=True):
    """Refinement steps in one arithmetic: (w, c, steps, last correction, rss)."""
    fn, to_ext = ARITHMETIC[name]
    exact = name == "exact"
    mu_used = np.asarray(mu, np.float64) if exact else mu
    weight_ext = Fraction(weight) if exact else weight
    lam_ext = Fraction(lam) if exact else lam
    last = {}

    extra = {"centre": centre} if name == "float64" else {}

    def gradient(w_ext, c_ext):
        gw, gc, rss = data.map_reduce(partial(fn, mu=mu_used, w=w_ext, c=c_ext, **extra))
        last["rss"] = rss
        return gw - lam_ext * w_ext, gc

    w_ext, c_ext = to_ext(w), to_ext(c)
    if exact:  # the offset of an exact pass must be exactly the float used
        c_ext = _fractions(np.asarray(c, np.float64))
    w_ext, c_ext, steps, rel = _refine(gradient, fac, w_ext, c_ext, weight_ext, to_ext,
                                       fit_intercept=fit_intercept, max_steps=max_steps,
                                       tol=tol)
    rss = np.array([float(v) for v in last["rss"]])
    return w_ext, c_ext, steps, rel, rss


# --------------------------------------------------------------------------- public entry


def _shape_result(w, b, y_1d: bool):
    if y_1d:
        return w[:, 0], float(b[0])
    return w, np.asarray(b, dtype=np.float64)


def solve_exact(X, y, sample_weight=None, fit_intercept=True, alpha=0.0, *, method="auto",
                block_rows=None, arithmetic="auto"):
    """Minimise the squared-loss objective exactly, for arrays in memory.

    .. math::

        \\min_{w, b}\\; \\frac{\\sum_i s_i (y_i - x_i^\\top w - b)^2}{\\sum_i s_i}
        + \\frac{\\alpha}{2} \\lVert w \\rVert^2

    The same algorithm as for files and Dask (:func:`solve_backend`), on the arrays as one
    block.  The intercept ``b`` is never penalised (and is 0 when ``fit_intercept`` is
    False).  Constant columns get coefficient 0; a rank-deficient ``X`` gets the
    minimum-norm solution in column-scaled coordinates.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite float data (float32, float64 or longdouble).
    y : ndarray of shape (n,) or (n, k)
    sample_weight : ndarray of shape (n,) or None
    fit_intercept : bool
    alpha : float
        L2 penalty strength (0 for ordinary least squares).
    method : {"auto", "dense", "blocked"}
        The factor: "dense" always QR (TSQR over row blocks), "blocked" Cholesky of the Gram
        statistics unless too ill-conditioned; "auto" is "blocked".
    block_rows : int or None
        Rows per block of the passes (default about 1 MiB of float64).
    arithmetic : {"auto", "float64", "longdouble", "exact"}
        See :func:`solve_backend`.

    Returns
    -------
    coef : ndarray of shape (d,) or (d, k), matching ``y.ndim``
    intercept : float or ndarray of shape (k,)
    info : dict
        ``method``, ``rank``, ``cond`` (estimated condition of the scaled problem),
        ``refinement_steps``, ``correction`` (last relative refinement step), ``arithmetic``,
        ``rss``.
    """
    if method not in ("auto", "dense", "blocked"):
        raise ValueError(f"method must be 'auto', 'dense' or 'blocked', got {method!r}")
    X, y = np.asarray(X), np.asarray(y)
    y2 = _as_2d(y)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    data = InMemory(X, y2, sw)
    n, d = X.shape
    stats = accumulate_stats(iter_blocks(X, y2, sw, block_rows), stats_threads(X))
    threads = n * d * d > _THREADED_QR_FLOPS and d >= 256  # wide data: BLAS-3 on every core
    with nullcontext() if threads else blas_single_thread():  # small work: one thread
        # (OpenBLAS threads measured 1.1-4x slower here with 2 threads)
        w, b, info = solve_backend(data, fit_intercept=fit_intercept, alpha=float(alpha),
                                   factor="tsqr" if method == "dense" else "auto",
                                   arithmetic=arithmetic, stats=stats)
    if not fit_intercept:
        b = np.zeros_like(b)
    coef, intercept = _shape_result(w, b, y.ndim == 1)
    return coef, intercept, info


def _as_2d(y):
    return y[:, None] if y.ndim == 1 else y


def exact_result(p, X, y2, sw):
    """The closed form as a :class:`~gradfit.model.result.FitResult` (coefficients (d, k)),
    for validated in-memory arrays and fitting parameters ``p`` (squared loss, a smooth
    penalty)."""
    coef, icpt, info = solve_exact(X, y2, sample_weight=sw, fit_intercept=p.fit_intercept,
                                   alpha=p.penalty_record.l2)
    return closed_form_result(p, coef, icpt, info, float(np.sum(sw)) if sw is not None
                              else float(len(X)))


_BOUND_KEYS = ("rss", "coef_error", "intercept_error", "spread", "centred_intercept",
               "centred_intercept_error")


def closed_form_result(p, coef, icpt, info, weight, reason="closed-form least-squares solution"):
    """FitResult of a closed-form solution (coef (d, k), icpt (k,)): its objective from the
    refinement's residual sum of squares."""
    from gradfit.model.result import FitResult, History

    coef = np.asarray(coef, float).reshape(-1, np.size(icpt))
    icpt = np.asarray(icpt, float).reshape(-1)
    f = float(np.sum(info["rss"])) / weight + p.penalty_record.value(coef)
    hist = History(4)
    hist.append(0, f, 0.0, np.nan, 0.0, coef, icpt)
    cert = {"method": "closed-form", "digits": None, "grad_norm": 0.0, "grad_norm_rel": 0.0,
            "coef_rel_error": None, "objective_gap_rel": 0.0,
            "arithmetic": info.get("arithmetic"), "cond": info.get("cond")}
    if info.get("coef_error") is not None:
        dw = np.asarray(info["coef_error"], float).reshape(coef.shape)
        db = np.asarray(info["intercept_error"], float).reshape(icpt.shape)
        bt = np.asarray(info["centred_intercept"], float).reshape(icpt.shape)
        per, digits, icpt_digits = coefficient_digits(coef, icpt, dw, db, info["spread"],
                                                      p.fit_intercept, bt)
        cert.update(digits=digits, coef_digits=per, coef_error=dw,
                    intercept_error=db if p.fit_intercept else None,
                    intercept_digits=icpt_digits if p.fit_intercept else None,
                    coef_rel_error=normwise_error(coef, dw, info["spread"], p.fit_intercept,
                                                  bt, info["centred_intercept_error"]))
    info = {k: v for k, v in info.items() if k not in _BOUND_KEYS}
    return FitResult(coef, icpt, 1, True, reason, f, hist, solver="exact", info=info,
                     certificate=cert)
