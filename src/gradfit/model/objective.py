"""The objective bound to data, in the solver's coordinates.

    F(w, b) = sum_i s_i loss(y_i - x_i.w - b) / sum_i s_i  +  alpha * R(w)

The solver works on P, an array of shape (p, k): rows 0..d-1 hold w~ = sigma * w and, when
there is an intercept, row d holds b~ = b + mu . w (the intercept of the centred model).
``mu`` and ``sigma`` are the (weighted) column means and standard deviations when
standardize=True (mu = 0 without an intercept, where sigma is the root mean square), and
0 and 1 otherwise.  Predictions, the objective and the optimum are the same in both
coordinate systems: standardization changes only the path.  The penalty is always applied
to w in original units, as scikit-learn does: alpha * R(w~ / sigma).

The gradient of the data term in these coordinates is

    dF/dw~ = gz / (sigma S),   dF/db~ = gb / S,     S = sum_i s_i,

with (gz, gb) from one fused pass (``kernels.value_grad``).  Its Lipschitz constant is
L = 2 lambda_max(Z' S Z / S) with Z = [(X - mu)/sigma, 1], estimated by power iteration
(a few passes, so it works on streamed data too).
"""

from __future__ import annotations

import numpy as np

from gradfit.model import kernels
from gradfit.model.penalties import Penalty

__all__ = ["Objective", "column_moments"]


def column_moments(data, center=True):
    """Weighted column means and standard deviations in two passes over a backend.

    mu_j = sum_i s_i x_ij / S  (0 when ``center`` is False);
    sigma_j = sqrt(sum_i s_i (x_ij - mu_j)^2 / S).
    """
    mu = np.zeros(data.d)
    if center:
        mu = data.map_reduce(lambda X, y, sw: (_weighted_colsum(X, sw, None),))[0] / data.S
    ss = data.map_reduce(lambda X, y, sw: (_weighted_colsum(X, sw, mu),))[0]
    return mu, np.sqrt(ss / data.S)


def _weighted_colsum(X, sw, mu):
    """sum_i s_i x_i (mu None) or sum_i s_i (x_i - mu)^2, in cache-sized row blocks."""
    out = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], kernels.BLOCK_ROWS):
        B = X[start:start + kernels.BLOCK_ROWS]
        if mu is not None:
            B = B - mu
            B = B * B
        s = None if sw is None else sw[start:start + kernels.BLOCK_ROWS]
        out += B.sum(axis=0) if s is None else s @ B
    return out


def _max_row_norm2(X, sw, mu, sigma, ones):
    worst = 0.0
    for start in range(0, X.shape[0], kernels.BLOCK_ROWS):
        Zb = (X[start:start + kernels.BLOCK_ROWS] - mu) / sigma
        q = (Zb * Zb).sum(axis=1) + ones
        if sw is not None:
            q = q * sw[start:start + kernels.BLOCK_ROWS]
        worst = max(worst, float(q.max()) if q.size else 0.0)
    return (np.array(worst),)


class Objective:
    """F bound to (X, y, s) in standardized coordinates.  See the module docstring.

    Parameters
    ----------
    data : a backend (``gradfit.data.memory``): in-memory arrays, files or a Dask cluster
    loss : str
    epsilon : float
    penalty : Penalty
    fit_intercept, standardize : bool
    kernel : callable with the contract of ``kernels.value_grad``
    """

    def __init__(self, data, *, loss, epsilon, penalty: Penalty, fit_intercept, standardize,
                 kernel=None, moments=None):
        self.data = data
        self.loss, self.epsilon, self.penalty = loss, float(epsilon), penalty
        self.fit_intercept = bool(fit_intercept)
        self.kernel = kernel or kernels.value_grad
        n, d = data.n, data.d
        self.n, self.d, self.k = n, d, data.k
        self.S = data.S
        if standardize:
            mu, sigma = moments if moments is not None else column_moments(data, fit_intercept)
            flat = sigma <= 1e-13 * np.maximum(np.abs(mu), 1e-300)  # constant columns
            sigma = np.where(flat | (sigma == 0), 1.0, sigma)
        else:
            mu, sigma = np.zeros(d), np.ones(d)
        self.mu = mu if fit_intercept else np.zeros(d)
        self.sigma = sigma
        self.c = (1.0 / sigma)[:, None]  # penalty weights in solver coordinates
        self.p = d + (1 if fit_intercept else 0)
        self._lipschitz = None

    # ------------------------------------------------------------------ coordinates
    def split(self, P):
        """(w~, b~) views of P; b~ is zeros without an intercept."""
        if self.fit_intercept:
            return P[: self.d], P[self.d]
        return P, np.zeros(self.k)

    def to_original(self, P):
        """coef (d, k) and intercept (k,) in the caller's units."""
        wt, bt = self.split(P)
        coef = wt / self.sigma[:, None]
        intercept = bt - self.mu @ coef if self.fit_intercept else np.zeros(self.k)
        return coef, intercept

    def from_original(self, coef, intercept):
        """P from coef (d, k) and intercept (k,)."""
        coef = np.asarray(coef, float).reshape(self.d, self.k)
        wt = coef * self.sigma[:, None]
        if not self.fit_intercept:
            return wt.copy()
        bt = np.asarray(intercept, float).reshape(self.k) + self.mu @ coef
        return np.vstack([wt, bt[None, :]])

    def zeros(self):
        return np.zeros((self.p, self.k))

    # ------------------------------------------------------------------ passes
    def raw_pass(self, P, X=None, y=None, sw=None, loss=None, zero_y=False, data=None):
        """(loss_sum, gradient sums in solver coordinates (p, k)) over the rows given, or
        over a whole backend (``data``, default the objective's own) when X is None
        (y = 0 with ``zero_y``)."""
        wt, bt = self.split(P)
        v = wt / self.sigma[:, None]
        loss = loss or self.loss
        mu, eps, kern = self.mu, self.epsilon, self.kernel
        if X is None:  # a kernel that reads any layout takes a file's columns in place
            loss_sum, gz, gb = (data or self.data).map_reduce(
                lambda Xb, yb, sb: kern(Xb, None if zero_y else yb, sb, mu, v, bt, loss, eps),
                any_layout=getattr(kern, "reads_any_layout", False))
        else:
            loss_sum, gz, gb = kern(X, y, sw, mu, v, bt, loss, eps)
        g = gz / self.sigma[:, None]
        if self.fit_intercept:
            g = np.vstack([g, gb[None, :]])
        return loss_sum, g

    def data_value_grad(self, P):
        """Data term and its gradient over all rows: (F_data, dF_data/dP)."""
        loss_sum, g = self.raw_pass(P)
        return float(loss_sum.sum()) / self.S, g / self.S

    def value_grad(self, P):
        """F (data term + penalty) and the gradient of the data term."""
        f, g = self.data_value_grad(P)
        return f + self.penalty_value(P), g

    def value(self, P):
        return self.value_grad(P)[0]

    def batch_grad(self, P, X, y, sw):
        """Unbiased estimate of dF_data/dP from a batch: sum over the batch / (m * S / n)."""
        _, g = self.raw_pass(P, X, y, sw)
        return g / (X.shape[0] * self.S / self.n)

    def data_value_on(self, P, data):
        """Mean loss on the rows of another backend (a validation set), with this objective's
        standardization."""
        loss_sum, _ = self.raw_pass(P, data=data)
        return float(loss_sum.sum()) / data.S

    # ------------------------------------------------------------------ penalty
    def penalty_value(self, P):
        return self.penalty.value(self.split(P)[0], self.c)

    def prox(self, P, step):
        """prox of step * alpha R on the coefficient rows; the intercept row passes through."""
        if self.penalty.is_zero:
            return P
        out = P.copy()
        if np.ndim(step):  # a per-coordinate step (Adam's metric): the coefficient rows
            step = step[: self.d]
        out[: self.d] = self.penalty.prox(P[: self.d], step, self.c)
        return out

    def grad_mapping(self, P, g, step):
        """(P - prox(P - step g, step)) / step: the gradient for smooth F, and the
        stationarity measure of proximal methods otherwise (zero exactly at the optimum)."""
        if self.penalty.is_zero:
            return g
        return (P - self.prox(P - step * g, step)) / step

    def smooth_penalty_grad(self, P):
        """Gradient of alpha R for smooth (l2) penalties, zero on the intercept row."""
        out = np.zeros_like(P)
        out[: self.d] = self.penalty.smooth_grad(P[: self.d], self.c)
        return out

    # ------------------------------------------------------------------ curvature
    def _gram_apply(self, u):
        """M u with M = Z' S Z / S (u of shape (p, 1)), via one kernel pass with y = 0."""
        _, g = self.raw_pass(u, loss="squared", zero_y=True)
        return g / (2.0 * self.S)

    def lipschitz(self, n_iter: int = 30, rtol: float = 1e-3) -> float:
        """L = curvature(loss) * lambda_max(Z' S Z / S) by power iteration (cached).

        Rayleigh quotients increase towards lambda_max; iteration stops once they change by
        less than ``rtol`` (typically 5-15 passes on standardized data).
        """
        if self._lipschitz is None:
            rng = np.random.default_rng(0)
            u = rng.standard_normal((self.p, 1)) + 1.0
            u /= np.linalg.norm(u)
            lam = 0.0
            for _ in range(n_iter):
                mu_ = self._gram_apply(u)
                new = float((u * mu_).sum())
                norm = np.linalg.norm(mu_)
                if norm == 0.0 or not np.isfinite(norm):
                    break
                u = mu_ / norm
                if abs(new - lam) <= rtol * abs(new):
                    lam = new
                    break
                lam = new
            self._lipschitz = 2.0 * max(lam, np.finfo(float).tiny)
        return self._lipschitz

    def max_row_lipschitz(self) -> float:
        """max_i 2 s_i ||z_i||^2 / mean(s): the smoothness of the worst single-row loss."""
        mu, sigma, ones = self.mu, self.sigma, 1.0 if self.fit_intercept else 0.0
        (worst,) = self.data.map_reduce(lambda X, y, sw: _max_row_norm2(X, sw, mu, sigma, ones),
                                        combine=lambda a, b: (np.maximum(a[0], b[0]),))
        return 2.0 * float(worst) / (self.S / self.n)

    def batch_lipschitz(self, batch_size: int) -> float:
        """Expected smoothness of a mini-batch loss (Gower et al. 2019, sampling without
        replacement):  L(B) = n(B-1)/(B(n-1)) L + (n-B)/(B(n-1)) L_max."""
        n, B = self.n, min(batch_size, self.n)
        if n <= 1 or B >= n:
            return self.lipschitz()
        L, Lmax = self.lipschitz(), self.max_row_lipschitz()
        return n * (B - 1) / (B * (n - 1)) * L + (n - B) / (B * (n - 1)) * Lmax
