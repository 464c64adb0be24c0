"""``gradfit.lasso_path``: the L1 / elastic-net fit on a decreasing grid of alphas, each
warm-started from the one before (as scikit-learn's ``lasso_path`` / ``enet_path``).

The same objective as every gradfit fit (the weighted mean squared error plus
alpha * penalty, intercept unpenalized); scikit-learn's ``lasso_path(X, y, alphas=a)`` on
centred data is ``gradfit.lasso_path(X, y, alphas=2 * a)``.  Along a path the working sets
keep the cross products X~'x~_j of every feature that ever entered (one pass over X per
batch of new features, or the whole X~'X~ once when X has at least as many rows as
columns), so each alpha's correlations cost no pass: the path costs little more than its
last, densest fit.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field

import numpy as np

from gradfit.data.validation import prepare_data
from gradfit.exceptions import InputError, warn_user
from gradfit.fitting.params import GRAM_MAX_D, check_params
from gradfit.fitting.working_sets import prepare
from gradfit.model.backend import InMemory
from gradfit.model.gram import gram_pass
from gradfit.model.kernels import blas_single_thread
from gradfit.solvers.working_set import WorkingSet, solve

__all__ = ["PathResult", "lasso_path", "alpha_grid"]

PATH_GRAM_MAX_D = 8192
"""Up to this many features (a Gram of 512 MiB), a path on data with at least as many rows
as features computes X~'X~ once (as scikit-learn's ``lasso_path`` does with
``precompute="auto"``) instead of crossing every feature as it enters (twice syrk's
multiplications for a path that ends dense): at once when its grid reaches below
:data:`PATH_GRAM_DENSE` x alpha_max, else when its working sets grow past
:data:`PATH_GRAM_SHARE` of the features."""
PATH_GRAM_DENSE = 0.1
"""A grid whose smallest alpha is below this share of alpha_max forms the Gram first: such a
path ends with most features in its working sets (scikit-learn's default grid goes down to
1e-3 alpha_max), and crossing the first ones in batches would only add to the Gram's cost."""
PATH_GRAM_SHARE = 1 / 8
"""The share of the features crossed one batch at a time before the whole Gram is formed
(a grid that stays above :data:`PATH_GRAM_DENSE` x alpha_max): a path that stays sparser
never pays for it, one that grows dense pays at most 1/4 of a Gram's cost in batches
first."""


@dataclass
class PathResult:
    """The fits along a path, one row per alpha (decreasing).

    Attributes
    ----------
    alphas : ndarray (m,)
        In gradfit's units (2 x scikit-learn's alpha), decreasing.
    coef : ndarray (m, d), or (m, d, k) for k outputs
        Coefficients in the caller's units (scikit-learn's ``lasso_path`` returns the
        transpose, (d, m)).
    intercept : ndarray (m,) or (m, k)
    objective : ndarray (m,)
        F at each fit (summed over outputs).
    duality_gap : ndarray (m,)
        The duality gap relative to the objective (worst output): a bound on
        (F - F*) / F, from the Gram statistics of the working set.
    n_iter : ndarray (m,) of int
        Coordinate-descent epochs per alpha (summed over outputs).
    converged : ndarray (m,) of bool
    l1_ratio : float
    seconds : float
        Wall time of the whole path.
    info : dict
    """

    alphas: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    objective: np.ndarray
    duality_gap: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    l1_ratio: float
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.alphas)


def alpha_grid(c0_max: float, S: float, l1_ratio: float, n_alphas: int, eps: float):
    """scikit-learn's default grid in gradfit's units: from alpha_max, the smallest alpha
    whose solution is all zeros (2 max_j |x~_j'y~| / (S l1_ratio)), down to eps x alpha_max,
    evenly on a log scale."""
    alpha_max = 2.0 * c0_max / (S * l1_ratio)
    if alpha_max <= 0:
        return np.zeros(1)
    return np.geomspace(alpha_max, alpha_max * eps, n_alphas)


def lasso_path(X, y, alphas=100, *, l1_ratio=1.0, eps=1e-3,
               sample_weight=None, fit_intercept=True, tol="auto", max_iter=1000,
               feature_names=None) -> PathResult:
    """Fit penalty="l1" (``l1_ratio=1``) or "elasticnet" on each alpha of a decreasing grid,
    warm starts from one alpha to the next, by working sets and coordinate descent
    (``gradfit.solvers.working_set``).

    Parameters
    ----------
    X : array (n, d); y : array (n,) or (n, k); sample_weight : array (n,) or None
    alphas : int or sequence of float, default 100
        The grid, in gradfit's units (2 x scikit-learn's), sorted decreasing (as
        scikit-learn's ``enet_path`` does); an integer: that many values from alpha_max (the
        smallest alpha whose fit is all zeros) down to ``eps`` x alpha_max on a log scale
        (scikit-learn's ``alphas=100``).
    l1_ratio : float in (0, 1]
        1 is the lasso, less an elastic net (R = l1_ratio ||w||_1 + (1-l1_ratio)/2 ||w||^2).
    fit_intercept : bool
    tol : "auto" or float
        As for ``gradfit.fit(solver="cd")``: "auto" solves each alpha to the rounding floor
        of its working set; a number is the relative duality gap to reach.
    max_iter : int
        Coordinate-descent epochs allowed per alpha (and output).

    Returns
    -------
    PathResult
    """
    t0 = time.perf_counter()
    l1_ratio = float(l1_ratio)
    if not 0.0 < l1_ratio <= 1.0:
        raise ValueError(f"l1_ratio must be in (0, 1] for a path (0 is ridge: use "
                         f"gradfit.fit(solver='exact', penalty='l2')), got {l1_ratio!r}")
    pen = "l1" if l1_ratio == 1.0 else "elasticnet"
    p = check_params(dict(solver="cd", penalty=pen, alpha=1.0, l1_ratio=l1_ratio,
                          fit_intercept=fit_intercept, tol=tol, max_iter=max_iter))
    X, y2, sw, single = prepare_data(X, y, sample_weight, feature_names)
    X = np.asarray(X, dtype=np.float64)
    with blas_single_thread():
        gram = gram_pass(InMemory(X, y2, sw)) if X.shape[1] <= GRAM_MAX_D else None
        prob = prepare(X, y2, sw, fit_intercept, gram=gram, mode="gram")
        sets = [WorkingSet(prob.cols, yt, "gram", c0=c0, yty=yty)
                for yt, c0, yty, _ in prob.targets]
        grid = _grid(alphas, sets, prob.cols.S, l1_ratio, eps)
        if gram is None and X.shape[0] >= X.shape[1] <= PATH_GRAM_MAX_D:
            dense = grid[-1] < PATH_GRAM_DENSE * _alpha_max(sets, prob.cols.S, l1_ratio)
            prob.cols.gram_after = 0 if dense else X.shape[1] * PATH_GRAM_SHARE
        half_S = prob.cols.S / 2.0
        d, k, m = X.shape[1], len(sets), len(grid)
        coef = np.zeros((m, d, k))
        f, gap, epochs = np.zeros(m), np.zeros(m), np.zeros(m, dtype=int)
        ok = np.ones(m, dtype=bool)
        for i, alpha in enumerate(grid):
            l1, l2 = alpha * l1_ratio, alpha * (1.0 - l1_ratio)
            for j, ws in enumerate(sets):
                if i >= 2:
                    _extrapolated_start(ws, coef[i - 2, :, j], coef[i - 1, :, j],
                                        (alpha - grid[i - 1]) / (grid[i - 1] - grid[i - 2]))
                out = solve(ws, l1 * half_S, l2 * half_S, p.tol, p.max_iter)
                coef[i, :, j] = out.w
                f[i] += out.primal / half_S
                gap[i] = max(gap[i], out.gap / max(out.primal, 1e-300))
                epochs[i] += out.epochs
                ok[i] &= out.converged
    ybar = np.array([t[3] for t in prob.targets])
    icpt = ybar[None, :] - np.einsum("d,mdk->mk", prob.cols.mu, coef) if fit_intercept \
        else np.zeros((m, k))
    if not ok.all():
        bad = grid[~ok]
        warn_user(f"lasso_path: {len(bad)} of {m} alphas did not converge within max_iter="
                  f"{max_iter} epochs (the smallest: {bad.min():.3g}); increase max_iter")
    info = {"working_set": [ws.m for ws in sets], "passes": prob.cols.passes}
    if single:
        coef, icpt = coef[:, :, 0], icpt[:, 0]
        info = {key: v[0] if isinstance(v, list) else v for key, v in info.items()}
    return PathResult(grid, coef, icpt, f, gap, epochs, ok, l1_ratio,
                      time.perf_counter() - t0, info)


def _extrapolated_start(ws, w2, w1, t):
    """Start the next alpha from the path's linear extrapolation ``w1 + t (w1 - w2)`` of the
    last two fits (t: the grid's step ratio): the lasso path is piecewise linear in alpha
    (Efron et al. 2004), so between two kinks this is the next fit itself, and coordinate
    descent only has to place the features that enter or leave.  A coefficient keeps its
    last sign or becomes 0 (never crosses zero), and one that was 0 stays 0.  The stopping
    rules are unchanged: only the starting point moves."""
    if t <= 0.0 or not np.isfinite(t):
        return
    a, b = w2[ws.idx], w1[ws.idx]
    pred = b + t * (b - a)
    pred[(b == 0) | (np.sign(pred) != np.sign(b))] = 0.0
    ws.w[:] = pred


def _c0_max(sets):
    return max(float(np.abs(ws.c0).max()) for ws in sets)


def _alpha_max(sets, S, l1_ratio):
    """The smallest alpha whose fit is all zeros (the top of :func:`alpha_grid`)."""
    return float(alpha_grid(_c0_max(sets), S, l1_ratio, 1, 1.0)[0])


def _grid(alphas, sets, S, l1_ratio, eps):
    if isinstance(alphas, numbers.Integral) and not isinstance(alphas, bool):
        if alphas < 1:
            raise InputError(f"alphas={alphas}: a grid needs at least one alpha")
        return alpha_grid(_c0_max(sets), S, l1_ratio, int(alphas), float(eps))
    try:
        grid = np.asarray(alphas, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"alphas must be a sequence of numbers, got {alphas!r}") from None
    if grid.size == 0:
        raise InputError("alphas is empty: give at least one alpha (or a number of them for "
                         "the default grid)")
    bad = np.flatnonzero(~np.isfinite(grid) | (grid < 0))
    if bad.size:
        raise InputError(f"alphas[{bad[0]}] = {grid[bad[0]]:g}: every alpha must be a finite "
                         "number >= 0")
    return np.sort(grid)[::-1]
