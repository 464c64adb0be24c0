"""The closed form for wide sparse X (d above :data:`GRAM_MAX_D`): LSMR on the centred,
weighted, column-scaled problem, never forming X'X nor a dense X.

For each output the (ridge) least-squares problem of ``gradfit.solvers.exact``,

.. math::

    \\min_{w}\\; \\lVert S^{1/2} (y_c - X_c w) \\rVert^2 + \\lambda \\lVert w \\rVert^2,
    \\qquad \\lambda = \\frac{\\alpha}{2} \\sum_i s_i, \\qquad b = \\bar y - \\bar x^\\top w,

is solved in the scaled unknowns ``z = C w`` (``C`` the column spreads) as the stacked system

.. math::

    \\begin{bmatrix} S^{1/2} X_c C^{-1} \\\\ \\sqrt{\\lambda}\\, C^{-1} \\end{bmatrix} z
    \\approx \\begin{bmatrix} S^{1/2} y_c \\\\ 0 \\end{bmatrix},

by LSMR (scipy.sparse.linalg.lsmr; Fong & Saunders 2011) with tolerances at the rounding
level, followed by refinement steps (LSMR on the residual of the float64 system) while they
shrink the answer's change.  The centring is folded into the operator
(``X_c z = X z - (mu . z) 1``), so memory stays O(nnz + n + d).  Constant columns get a
zero coefficient; a rank-deficient X the minimum-norm solution in scaled coordinates.
"""

from __future__ import annotations

import numpy as np

from gradfit.model.sparse import as_csr, centred_squares, weighted_colsum

__all__ = ["GRAM_MAX_D", "solve_lsmr"]

GRAM_MAX_D = 256
"""Up to this many features the sparse closed form takes the Gram statistics (X'SX, d x d)
and the refined Cholesky path of ``gradfit.solvers.exact``; above it LSMR."""
_TOL = 1e-15
_MAX_REFINE = 4


def _operator(X, sqrt_s, mu, scale, root_lam):
    from scipy.sparse.linalg import LinearOperator

    n, d = X.shape
    XT = X.T.tocsr()
    extra = d if root_lam > 0 else 0

    def matvec(z):
        u = np.ravel(z) / scale
        top = sqrt_s * (X @ u - mu @ u)
        return top if not extra else np.concatenate([top, root_lam * u])

    def rmatvec(r):
        r = np.ravel(r)
        t = sqrt_s * r[:n]
        out = XT @ t - mu * t.sum()
        if extra:
            out = out + root_lam * r[n:]
        return out / scale

    return LinearOperator((n + extra, d), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)


def _solve_one(A, rhs, d, max_iter):
    from scipy.sparse.linalg import lsmr

    z = np.zeros(d)
    r = rhs.copy()
    prev = np.inf
    steps = 0
    for steps in range(1, _MAX_REFINE + 1):  # noqa: B007  (steps is a result)
        dz = lsmr(A, r, atol=_TOL, btol=_TOL, conlim=1e16, maxiter=max_iter)[0]
        z = z + dz
        r = rhs - A.matvec(z)
        change = np.linalg.norm(dz) / max(np.linalg.norm(z), 1e-300)
        if change <= 1e-15 or change > 0.5 * prev:
            break
        prev = change
    return z, steps


def solve_lsmr(data, *, fit_intercept=True, alpha=0.0):
    """Minimise the squared-loss objective exactly on a sparse backend by LSMR (module
    docstring).

    Parameters
    ----------
    data : a backend with ``capabilities.sparse`` (``gradfit.data.sparse.SparseBackend``)
    fit_intercept : bool
    alpha : float
        The L2 penalty's strength.

    Returns
    -------
    w : ndarray (d, k)
    b : ndarray (k,)
    info : dict
        ``method`` ("lsmr"), ``rank`` (d), ``cond`` (None: not estimated),
        ``refinement_steps``, ``arithmetic`` ("float64"), ``rss`` per output, ``passes``.
    """
    (X, Y, sw) = data.map_reduce(lambda X, Y, s: (X, Y, s), combine=None)
    X = as_csr(X)
    n, d = X.shape
    Y = np.asarray(Y, np.float64).reshape(n, -1)
    s = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    W = float(s.sum())
    mu = weighted_colsum(X, sw) / W if fit_intercept else np.zeros(d)
    ybar = (s @ Y) / W if fit_intercept else np.zeros(Y.shape[1])
    spread = np.sqrt(np.maximum(centred_squares(X, sw, mu), 0.0))
    scale = np.where(spread > 0, spread, 1.0)
    lam = alpha * W / 2
    sqrt_s = np.sqrt(s)
    A = _operator(X, sqrt_s, mu, scale, np.sqrt(lam))
    extra = d if lam > 0 else 0
    w = np.zeros((d, Y.shape[1]))
    steps = 0
    for q in range(Y.shape[1]):
        rhs = np.concatenate([sqrt_s * (Y[:, q] - ybar[q]), np.zeros(extra)])
        z, used = _solve_one(A, rhs, d, max_iter=max(10 * d, 1000))
        w[:, q] = np.where(spread > 0, z / scale, 0.0)
        steps += used
    b = ybar - mu @ w if fit_intercept else np.zeros(Y.shape[1])
    r = Y - np.asarray(X @ w) - b
    rss = (s[:, None] * r * r).sum(axis=0)
    info = {"method": "lsmr", "rank": d, "cond": None, "refinement_steps": steps,
            "correction": np.nan, "arithmetic": "float64", "rss": rss, "passes": 2 * steps}
    return w, b, info
