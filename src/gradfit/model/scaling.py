"""The coordinates the solvers work in: a linear change of the coefficients.

The solvers move ``P = [w~; b~]``; the model's coefficients are

    w = A w~,        b = b~ - mu . w,

so that the prediction is ``(x - mu) . w + b~`` and the gradient of any function of w with
respect to w~ is ``A' dF/dw``.  Predictions, the objective and its minimiser are the same in
every coordinate system: the scaling changes only the path to the optimum (and how fast it is
reached).  Three kinds:

none      A = I, mu = 0 (the caller's units: the tutorial's loop)
diagonal  A = diag(1 / sigma), mu = the weighted column means (0 without an intercept):
          standardized features, ``standardize=True``
whiten    A = C^-1 R^-1 with R'R = C^-1 (G + lam I) C^-1, G the weighted centred Gram matrix
          X_c' S X_c / sum(s), C its diagonal's square root (the column spreads) and lam the
          smooth penalty's share (l2 / curvature): the Hessian of the squared loss becomes
          curvature x the identity, so gradient descent sees a condition number of 1 whatever
          the collinearity of X.  Cholesky; an eigen-decomposition when the scaled Gram is
          singular to working precision, whose null directions keep the standardized scale
          (so a rank-deficient problem gets the minimum-norm solution, as with standardize).

Constant columns (zero spread) keep A's identity row and a zero gradient.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import get_lapack_funcs

__all__ = ["Scaling"]

_EPS = np.finfo(np.float64).eps
WHITEN_RCOND = 1e-13
"""Below this reciprocal condition (1-norm estimate) of the scaled Gram matrix its Cholesky
factor is replaced by a regularised eigen-decomposition."""


class Scaling:
    """A change of coordinates ``w = A w~`` (see the module docstring).

    Attributes
    ----------
    kind : {"none", "diagonal", "whiten"}
    mu : ndarray (d,)
        Centring offsets (the intercept's coordinate is ``b~ = b + mu . w``).
    sigma : ndarray (d,) or None
        The diagonal kind's scales (``A = diag(1 / sigma)``); None for "whiten".
    A, A_inv : ndarray (d, d) or None
        The whitening matrix and its inverse; None for the diagonal kinds.
    method : str
        How A was built ("cholesky", "eigen", or the kind's name).
    """

    def __init__(self, kind, mu, sigma=None, A=None, A_inv=None, method=None):
        self.kind = kind
        self.mu = np.asarray(mu, dtype=float)
        self.sigma = None if sigma is None else np.asarray(sigma, dtype=float)
        self.A = A
        self.A_inv = A_inv
        self.method = method or kind

    # ---------------------------------------------------------------- builders
    @classmethod
    def none(cls, d: int) -> Scaling:
        return cls("none", np.zeros(d), np.ones(d))

    @classmethod
    def diagonal(cls, mu, sigma) -> Scaling:
        """Standardized coordinates; ``sigma`` of a constant column should be 1."""
        return cls("diagonal", mu, sigma)

    @classmethod
    def whiten(cls, G, mu, lam: float = 0.0) -> Scaling:
        """Whitening for the weighted Gram matrix ``G`` (d, d) of the centred data (the
        uncentred one, with ``mu = 0``, for a model without intercept), ridge share ``lam``.
        """
        G = np.asarray(G, dtype=float)
        d = G.shape[0]
        diag = np.diag(G).copy()
        active = diag > 0
        A = np.eye(d)
        A_inv = np.eye(d)
        method = "cholesky"
        if active.any():
            c = np.sqrt(diag[active])
            Gs = G[np.ix_(active, active)] / np.outer(c, c) + np.diag(lam / c**2)
            R = _cholesky(Gs)
            if R is not None:
                trtri = get_lapack_funcs("trtri", (R,))
                Rinv = trtri(R, lower=0)[0]  # (LAPACK directly: trsm's threads cost ms here)
                A_act, A_inv_act = Rinv / c[:, None], R * c[None, :]
            else:
                method = "eigen"
                evals, V = np.linalg.eigh(Gs)
                floor = max(float(evals.max()), 0.0) * 16 * len(c) * _EPS
                # directions the data do not determine keep the standardized scale, so the
                # descent from zero stays in the row space (the minimum-norm solution)
                root = np.sqrt(np.where(evals > floor, evals, 1.0))
                A_act = (V / root[None, :]) / c[:, None]
                A_inv_act = (V * root[None, :]).T * c[None, :]
            A[np.ix_(active, active)] = A_act
            A_inv[np.ix_(active, active)] = A_inv_act
        return cls("whiten", mu, None, A, A_inv, method)

    # ---------------------------------------------------------------- maps
    @property
    def is_diagonal(self) -> bool:
        return self.A is None

    @property
    def penalty_weights(self):
        """``c = 1 / sigma`` as a column (the penalty on w = c w~ is separable), or None."""
        return None if self.sigma is None else (1.0 / self.sigma)[:, None]

    def coef(self, wt):
        """w = A w~ (wt of shape (d, k))."""
        return wt / self.sigma[:, None] if self.A is None else self.A @ wt

    def solver(self, w):
        """w~ = A^-1 w."""
        return w * self.sigma[:, None] if self.A is None else self.A_inv @ w

    def grad(self, gw):
        """A' g: a gradient with respect to w turned into one with respect to w~."""
        return gw / self.sigma[:, None] if self.A is None else self.A.T @ gw

    def in_solver(self, M):
        """A' M A for a (d, d) matrix M (a Hessian block with respect to w)."""
        if self.A is None:
            inv = 1.0 / self.sigma
            return M * np.outer(inv, inv)
        return self.A.T @ M @ self.A

    # ---------------------------------------------------------------- persistence
    def to_arrays(self) -> dict:
        """Arrays that rebuild this scaling exactly (checkpoints)."""
        out = {"mu": self.mu, "sigma": np.ones_like(self.mu) if self.sigma is None
               else self.sigma}
        if self.A is not None:
            out.update(A=self.A, A_inv=self.A_inv)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, kind: str | None = None) -> Scaling:
        if "A" in arrays:
            return cls("whiten", arrays["mu"], None, np.asarray(arrays["A"]),
                       np.asarray(arrays["A_inv"]))
        return cls(kind or "diagonal", arrays["mu"], arrays["sigma"])

    def __repr__(self) -> str:
        return f"Scaling({self.kind!r}, d={len(self.mu)}, method={self.method!r})"


def _cholesky(Gs):
    """Upper Cholesky factor of the scaled Gram matrix, or None when it is singular to
    working precision (reciprocal condition below :data:`WHITEN_RCOND`)."""
    if Gs.shape[0] == 0:
        return Gs
    potrf, pocon = get_lapack_funcs(("potrf", "pocon"), (Gs,))
    R, info = potrf(Gs, lower=False, clean=True)
    if info != 0:
        return None
    rcond, _ = pocon(R, np.abs(Gs).sum(axis=0).max())
    return R if rcond > WHITEN_RCOND else None
