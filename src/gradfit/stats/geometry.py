r"""The bread of every covariance: :math:`A^{-1} = (Z^\top W Z)^{-1}` as a triangular factor,
the numerical rank and the condition number of the weighted design.

:math:`Z` is the design with the constant column when there is an intercept; everything is
computed from the factor :math:`R` of :class:`~gradfit.stats.sufficient.InferenceStats`
(centred coordinates with an intercept), never from the Gram matrix.
"""

from __future__ import annotations

import numpy as np

from gradfit.stats.linalg import solve_upper

__all__ = ["Geometry", "theta"]


def theta(stats) -> np.ndarray:
    """Parameter vector in table order: ``[intercept, *coef]`` or ``coef``."""
    w = stats.coef.astype(stats.dtype)
    return np.r_[stats.dtype.type(stats.intercept), w] if stats.fit_intercept else w


class Geometry:
    r"""The bread: :math:`B` with :math:`B B^\top = A^{-1} = (Z^\top W Z)^{-1}` in parameter
    order, the centred version :math:`B_c = \mathrm{diag}(S^{-1/2}, R_x^{-1})`, the rank, and
    the condition number.

    With an intercept :math:`B = J B_c`, :math:`J = [[1, -\bar x^\top], [0, I]]` (the map from
    the centred intercept :math:`b + \bar x^\top w` back to :math:`b`); without,
    :math:`B = R_0^{-1}`.
    """

    def __init__(self, stats):
        self.stats = stats
        self.r = stats.rx if stats.fit_intercept else stats.r0
        self.q = stats.n_features + stats.fit_intercept
        self.rank = self._rank()
        self.full_rank = self.rank == self.q
        self.r_inv = None
        if self.full_rank:
            with np.errstate(all="ignore"):
                self.r_inv = solve_upper(self.r, np.eye(len(self.r), dtype=self.r.dtype))
        self.b_c, self.b = self._bread()
        self.cond, self.min_eig = self._condition()

    def _rank(self) -> int:
        """Numerical rank of the column-scaled factor (and + 1 for the intercept)."""
        st = self.stats
        if self.r.size == 0:
            return int(st.fit_intercept)
        norms = np.sqrt((self.r * self.r).sum(0))
        if np.any(norms == 0):
            scaled = np.where(norms > 0, self.r / np.where(norms > 0, norms, 1), 0)
        else:
            scaled = self.r / norms
        sv = np.linalg.svd(np.asarray(scaled, float), compute_uv=False)
        tol = sv.max() * max(st.n, len(sv)) * np.finfo(self.r.dtype).eps
        return int((sv > tol).sum()) + int(st.fit_intercept)

    def _bread(self):
        st = self.stats
        if not self.full_rank:
            return None, None
        if not st.fit_intercept:
            return None, self.r_inv
        d = st.n_features
        b_c = np.zeros((d + 1, d + 1), dtype=self.r.dtype)
        b_c[0, 0] = 1 / np.sqrt(st.sw_sum)
        b_c[1:, 1:] = self.r_inv
        b = b_c.copy()
        b[0, 1:] = -(st.mean_x @ self.r_inv)
        return b_c, b

    def _t_matrix(self) -> np.ndarray:
        r""":math:`T` with :math:`T^\top T = Z^\top W Z` (raw, weighted design)."""
        st = self.stats
        if not st.fit_intercept:
            return self.r
        d = st.n_features
        t = np.zeros((d + 1, d + 1), dtype=self.r.dtype)
        t[0, 0] = np.sqrt(st.sw_sum)
        t[0, 1:] = np.sqrt(st.sw_sum) * st.mean_x
        t[1:, 1:] = self.r
        return t

    def _condition(self):
        r""":math:`\kappa = \lVert T\rVert_2 \lVert T^{-1}\rVert_2`; both norms are largest
        singular values, so each is accurate to rounding even when :math:`\kappa` is huge."""
        if self.q == 0:
            return np.nan, np.nan
        big = np.linalg.norm(np.asarray(self._t_matrix(), float), 2)
        if not self.full_rank:
            return np.inf, 0.0
        inv = np.linalg.norm(np.asarray(self.b, float), 2)
        return big * inv, 1 / inv**2


