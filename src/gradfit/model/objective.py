"""The objective bound to data, in the solver's coordinates.

    F(w, b) = sum_i s_i loss(y_i - x_i.w - b) / sum_i s_i  +  alpha * R(w)

The solver works on P, an array of shape (p, k): rows 0..d-1 hold w~ and, when there is an
intercept, row d holds b~ = b + mu . w (the intercept of the centred model), with
w = A w~ for the :class:`~gradfit.model.scaling.Scaling` of the fit: none, diagonal
(standardized features) or whitening.  Predictions, the objective and the optimum are the
same in every coordinate system: the scaling changes only the path.  The penalty is always on
w in original units, as scikit-learn does.

The penalty splits in two: a part the proximal step handles (all of it for the separable
scalings; the L1 part is only allowed there) and a smooth part folded into the gradient (the
L2 part under whitening, whose prox would not be separable).  ``data_value_grad`` returns
the smooth part (data term + folded penalty) and its gradient, ``penalty_value`` the
proximal part.

The gradient of the data term in these coordinates is

    dF/dw~ = A' gz / S,   dF/db~ = gb / S,     S = sum_i s_i,

with (gz, gb) from one fused pass (``kernels.value_grad``).  Its Lipschitz constant is
L = curvature(loss) * lambda_max(M), M = [A' G A, 0; 0, 1] with G the weighted centred Gram
matrix: exact from the Gram statistics when the fit has them (one pass, small d), else by
power iteration (a few passes; it works on streamed data too).
"""

from __future__ import annotations

import numpy as np

from gradfit.model import kernels
from gradfit.model.losses import get_loss
from gradfit.model.penalties import Penalty, make_penalty, penalty_parts
from gradfit.model.scaling import Scaling
from gradfit.model.sparse import (
    centred_squares,
    dense_rows,
    is_sparse,
    max_row_norm2,
    weighted_colsum,
)

__all__ = ["Objective", "column_moments", "STANDARDIZE_KINDS"]

STANDARDIZE_KINDS = {False: "none", "none": "none", True: "diagonal", "diagonal": "diagonal",
                     "whiten": "whiten"}


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


def moments_from_gram(stats, center=True):
    """(mu, sigma) as :func:`column_moments` gives them, from :class:`GramStats`."""
    d = stats.n_features
    if center:
        return stats.mean_x.copy(), np.sqrt(np.maximum(np.diag(stats.gram), 0.0) / stats.weight)
    mx = stats.mean_x
    ss = np.diag(stats.gram) + stats.weight * mx * mx
    return np.zeros(d), np.sqrt(np.maximum(ss, 0.0) / stats.weight)


def model_gram(stats, fit_intercept: bool) -> np.ndarray:
    """G = X_c' S X_c / sum(s) (centred with an intercept, raw without) from the statistics."""
    G = stats.gram / stats.weight
    if not fit_intercept:
        G = G + np.outer(stats.mean_x, stats.mean_x)
    return G


def _weighted_colsum(X, sw, mu):
    """sum_i s_i x_i (mu None) or sum_i s_i (x_i - mu)^2, in row blocks of about 1 MiB (each
    block's weighted column sums by one BLAS product: numpy's sum over axis 0 of a wide block
    was 8x slower than a pass of X' r); a sparse X by its stored values only."""
    if is_sparse(X):
        return weighted_colsum(X, sw) if mu is None else centred_squares(X, sw, mu)
    out = np.zeros(X.shape[1])
    rows = max(64, min(kernels.BLOCK_ROWS, (1 << 17) // max(X.shape[1], 1)))
    ones = np.ones(min(rows, X.shape[0]))
    for start in range(0, X.shape[0], rows):
        B = X[start:start + rows]
        if mu is not None:
            B = B - mu
            B *= B
        out += (ones[: len(B)] if sw is None else sw[start:start + rows]) @ B
    return out


def _max_row_norm2(X, sw, mu, scaling, ones):
    if is_sparse(X) and scaling.is_diagonal:
        return (np.array(max_row_norm2(X, sw, mu, scaling.sigma, ones)),)
    X = dense_rows(X) if is_sparse(X) else X  # whitened sparse rows: d <= 256
    worst = 0.0
    for start in range(0, X.shape[0], kernels.BLOCK_ROWS):
        Zb = X[start:start + kernels.BLOCK_ROWS] - mu
        Zb = Zb / scaling.sigma if scaling.is_diagonal else Zb @ scaling.A
        q = (Zb * Zb).sum(axis=1) + ones
        if sw is not None:
            q = q * sw[start:start + kernels.BLOCK_ROWS]
        worst = max(worst, float(q.max()) if q.size else 0.0)
    return (np.array(worst),)


class Objective:
    """F bound to (X, y, s) in the solver's coordinates.  See the module docstring.

    Parameters
    ----------
    data : a backend (``gradfit.data``): in-memory arrays, files or a Dask cluster
    loss : str
        A registered loss (``gradfit.model.losses``).
    epsilon : float
    penalty : Penalty
    fit_intercept : bool
    standardize : bool or {"none", "diagonal", "whiten"}
        The kind of :class:`Scaling` to build from the data (``scaling`` overrides it).
    kernel : callable with the contract of ``kernels.value_grad``
    moments : (mu, sigma), optional
        Column moments already known (a resumed fit): no pass over the data for them.
    gram : GramStats, optional
        The Gram statistics of the data: moments, the whitening matrix and the exact
        Lipschitz constant come from them (and the optimality certificate uses them).
    scaling : Scaling, optional
        The coordinates, given (a resumed or incremental fit).
    lipschitz : float, optional
        The Lipschitz constant, given (a resumed fit).
    """

    def __init__(self, data, *, loss, epsilon, penalty: Penalty, fit_intercept,
                 standardize=True, kernel=None, moments=None, gram=None, scaling=None,
                 lipschitz=None):
        self.data = data
        self.loss, self.epsilon, self.penalty = loss, float(epsilon), penalty
        self.curvature = float(get_loss(loss).curvature)
        self.fit_intercept = bool(fit_intercept)
        self.kernel = kernel or kernels.value_grad
        n, d = data.n, data.d
        self.n, self.d, self.k = n, d, data.k
        self.S = data.S
        self.gram_stats = gram
        self.G = None if gram is None else model_gram(gram, self.fit_intercept)
        if scaling is None:
            scaling = self._build_scaling(STANDARDIZE_KINDS[standardize], moments)
        self.scaling = scaling
        self.mu = scaling.mu if fit_intercept else np.zeros(d)
        self.sigma = scaling.sigma  # None when whitened
        self.c = scaling.penalty_weights  # penalty weights in solver coordinates (diagonal)
        whitened = not scaling.is_diagonal
        parts = penalty_parts(penalty)
        if whitened and (parts is None or parts[0]):
            raise ValueError("whitened coordinates need a built-in smooth penalty (None or "
                             "'l2'): the L1 prox is not separable there; use standardize=True")
        # the L2 part folds into the smooth term under whitening (its prox is not separable)
        self.folded_l2 = parts[1] if whitened else 0.0
        self.prox_penalty = make_penalty(None, 0.0, 0.0) if whitened else penalty
        self.p = d + (1 if fit_intercept else 0)
        self._lipschitz = None if lipschitz is None else float(lipschitz)

    def _build_scaling(self, kind, moments) -> Scaling:
        d = self.d
        if kind == "none":
            return Scaling.none(d)
        if kind == "whiten":
            if self.G is None:
                raise ValueError("whitening needs the Gram statistics of the data (gram=)")
            mu = self.gram_stats.mean_x if self.fit_intercept else np.zeros(d)
            parts = penalty_parts(self.penalty)
            if parts is None or parts[0]:
                raise ValueError("whitened coordinates need a built-in smooth penalty (None or "
                                 "'l2'); use standardize=True")
            lam = parts[1] / self.curvature
            return Scaling.whiten(self.G, mu, lam)
        if moments is None:
            moments = (moments_from_gram(self.gram_stats, self.fit_intercept)
                       if self.gram_stats is not None else
                       column_moments(self.data, self.fit_intercept))
        mu, sigma = moments
        mu = np.asarray(mu, float) if self.fit_intercept else np.zeros(d)
        flat = sigma <= 1e-13 * np.maximum(np.abs(mu), 1e-300)  # constant columns
        return Scaling.diagonal(mu, np.where(flat | (sigma == 0), 1.0, sigma))

    # ------------------------------------------------------------------ coordinates
    def split(self, P):
        """(w~, b~) views of P; b~ is zeros without an intercept."""
        if self.fit_intercept:
            return P[: self.d], P[self.d]
        return P, np.zeros(self.k)

    def to_original(self, P):
        """coef (d, k) and intercept (k,) in the caller's units."""
        wt, bt = self.split(P)
        coef = self.scaling.coef(wt)
        intercept = bt - self.mu @ coef if self.fit_intercept else np.zeros(self.k)
        return coef, intercept

    def from_original(self, coef, intercept):
        """P from coef (d, k) and intercept (k,)."""
        coef = np.asarray(coef, float).reshape(self.d, self.k)
        wt = self.scaling.solver(coef)
        if not self.fit_intercept:
            return np.array(wt, copy=True)
        bt = np.asarray(intercept, float).reshape(self.k) + self.mu @ coef
        return np.vstack([wt, bt[None, :]])

    def zeros(self):
        return np.zeros((self.p, self.k))

    def to_solver_grad(self, gw, gb):
        """(dF/dw (d, k), dF/db (k,)) -> dF/dP (p, k)."""
        g = self.scaling.grad(gw)
        if not self.fit_intercept:
            return g
        out = np.empty((self.p, g.shape[1]))
        out[: self.d] = g
        out[self.d] = gb
        return out

    # ------------------------------------------------------------------ passes
    def raw_pass(self, P, X=None, y=None, sw=None, loss=None, zero_y=False, data=None):
        """(loss_sum, gradient sums in solver coordinates (p, k)) over the rows given, or
        over a whole backend (``data``, default the objective's own) when X is None
        (y = 0 with ``zero_y``)."""
        wt, bt = self.split(P)
        v = self.scaling.coef(wt)
        loss = loss or self.loss
        mu, eps, kern = self.mu, self.epsilon, self.kernel
        if X is None:  # a kernel that reads any layout takes a file's columns in place
            loss_sum, gz, gb = (data or self.data).map_reduce(
                lambda Xb, yb, sb: kern(Xb, None if zero_y else yb, sb, mu, v, bt, loss, eps),
                any_layout=getattr(kern, "reads_any_layout", False))
        else:
            loss_sum, gz, gb = kern(X, y, sw, mu, v, bt, loss, eps)
        return loss_sum, self.to_solver_grad(gz, gb)

    def _folded(self, P):
        """(value, gradient) of the penalty part folded into the smooth term."""
        if not self.folded_l2:
            return 0.0, None
        w = self.scaling.coef(self.split(P)[0])
        g = np.zeros_like(P)
        g[: self.d] = self.scaling.grad(self.folded_l2 * w)
        return 0.5 * self.folded_l2 * float((w * w).sum()), g

    def data_value_grad(self, P):
        """The smooth part of F over all rows and its gradient: (F_smooth, dF_smooth/dP)
        (the data term, plus the L2 penalty under whitening)."""
        loss_sum, g = self.raw_pass(P)
        f = float(loss_sum.sum()) / self.S
        g = g / self.S
        fv, fg = self._folded(P)
        return (f + fv, g + fg) if fg is not None else (f, g)

    def value_grad(self, P):
        """F (smooth part + proximal part) and the gradient of the smooth part."""
        f, g = self.data_value_grad(P)
        return f + self.penalty_value(P), g

    def value(self, P):
        return self.value_grad(P)[0]

    def batch_grad(self, P, X, y, sw):
        """Unbiased estimate of dF_smooth/dP from a batch: sum over the batch / (m S / n)."""
        _, g = self.raw_pass(P, X, y, sw)
        g = g / (X.shape[0] * self.S / self.n)
        fv, fg = self._folded(P)
        return g if fg is None else g + fg

    def data_value_on(self, P, data):
        """Mean loss on the rows of another backend (a validation set), with this objective's
        coordinates."""
        loss_sum, _ = self.raw_pass(P, data=data)
        return float(loss_sum.sum()) / data.S

    # ------------------------------------------------------------------ penalty
    def penalty_value(self, P):
        """The proximal part of alpha R (all of it in separable coordinates)."""
        if self.prox_penalty.is_zero:
            return 0.0
        return self.prox_penalty.value(self.split(P)[0], self.c)

    def total_penalty_value(self, P):
        """alpha R(w), whichever part handles it."""
        return self.penalty.value(self.scaling.coef(self.split(P)[0]))

    def prox(self, P, step):
        """prox of step * (proximal part of alpha R) on the coefficient rows; the intercept
        row passes through."""
        if self.prox_penalty.is_zero:
            return P
        out = P.copy()
        if np.ndim(step):  # a per-coordinate step (Adam's metric): the coefficient rows
            step = step[: self.d]
        out[: self.d] = self.prox_penalty.prox(P[: self.d], step, self.c)
        return out

    def grad_mapping(self, P, g, step):
        """(P - prox(P - step g, step)) / step: the gradient for smooth F, and the
        stationarity measure of proximal methods otherwise (zero exactly at the optimum)."""
        if self.prox_penalty.is_zero:
            return g
        return (P - self.prox(P - step * g, step)) / step

    def smooth_penalty_grad(self, P):
        """Gradient of the proximal part's smooth (L2) share, zero on the intercept row (what
        a smooth solver adds to ``data_value_grad``'s gradient)."""
        out = np.zeros_like(P)
        if not self.prox_penalty.is_zero:
            out[: self.d] = self.prox_penalty.smooth_grad(P[: self.d], self.c)
        return out

    # ------------------------------------------------------------------ curvature
    def quadratic_apply(self, U):
        """M U for the quadratic part of a squared-loss F = P'MP - 2c'P + const: the data
        Gram Z'SZ/S in solver coordinates (one kernel pass per column of U, y = 0) plus half
        the L2 penalty's Hessian, whichever part holds it."""
        out = np.empty_like(U)
        for j in range(U.shape[1]):
            _, g = self.raw_pass(U[:, j:j + 1], loss="squared", zero_y=True)
            out[:, j:j + 1] = g / (2.0 * self.S)
        parts = penalty_parts(self.penalty)
        if parts is None:
            raise ValueError("the quadratic form needs a built-in penalty (None or 'l2')")
        l2 = parts[1]
        if l2:
            w = self.scaling.coef(U[: self.d])
            out[: self.d] += 0.5 * l2 * self.scaling.grad(w)
        return out

    def solver_hessian(self):
        """The Hessian of the smooth part of F in solver coordinates for the squared loss,
        (p, p), from the Gram statistics (None without them):

            curvature x [A'(G + dd')A, A'd; d'A, 1]  +  the folded L2 share,

        with G the centred Gram matrix (raw without an intercept) and d = mean(x) - mu the
        offset of the centring from the data's means (0 for the standardizing scalings)."""
        if self.G is None:
            return None
        if not self.fit_intercept:
            Hw = self.curvature * self.scaling.in_solver(self.G)
        else:
            delta = self.gram_stats.mean_x - self.mu
            Hw = self.curvature * self.scaling.in_solver(self.G + np.outer(delta, delta))
        if self.folded_l2:
            Hw = Hw + self.folded_l2 * self.scaling.in_solver(np.eye(self.d))
        if not self.fit_intercept:
            return Hw
        H = np.zeros((self.p, self.p))
        H[: self.d, : self.d] = Hw
        H[: self.d, self.d] = H[self.d, : self.d] = self.curvature * self.scaling.grad(
            delta[:, None])[:, 0]
        H[self.d, self.d] = self.curvature
        return H

    def lipschitz(self, n_iter: int = 30, rtol: float = 1e-3) -> float:
        """L, the Lipschitz constant of the smooth part's gradient (cached): exact from the
        Gram statistics when present, else curvature(loss) * lambda_max(Z' S Z / S) by power
        iteration (Rayleigh quotients increase towards lambda_max; it stops once they change
        by less than ``rtol``, typically 5-15 passes on standardized data)."""
        if self._lipschitz is None:
            H = self.solver_hessian()
            if H is not None:
                lam = float(np.linalg.eigvalsh(H)[-1])
            else:
                lam = self.curvature * self._power_iteration(n_iter, rtol)
            self._lipschitz = max(lam, np.finfo(float).tiny)
        return self._lipschitz

    @property
    def lipschitz_value(self) -> float | None:
        """The Lipschitz constant if it has been computed or given, else None."""
        return self._lipschitz

    def _power_iteration(self, n_iter, rtol) -> float:
        rng = np.random.default_rng(0)
        u = rng.standard_normal((self.p, 1)) + 1.0
        u /= np.linalg.norm(u)
        lam = 0.0
        for _ in range(n_iter):
            _, g = self.raw_pass(u, loss="squared", zero_y=True)
            mu_ = g / (2.0 * self.S)
            new = float((u * mu_).sum())
            norm = np.linalg.norm(mu_)
            if norm == 0.0 or not np.isfinite(norm):
                break
            u = mu_ / norm
            if abs(new - lam) <= rtol * abs(new):
                lam = new
                break
            lam = new
        return lam

    def max_row_lipschitz(self) -> float:
        """max_i curvature s_i ||z_i||^2 / mean(s): the smoothness of the worst single-row
        loss."""
        mu, scaling, ones = self.mu, self.scaling, 1.0 if self.fit_intercept else 0.0
        (worst,) = self.data.map_reduce(lambda X, y, sw: _max_row_norm2(X, sw, mu, scaling, ones),
                                        combine=lambda a, b: (np.maximum(a[0], b[0]),))
        return self.curvature * float(worst) / (self.S / self.n)

    def batch_lipschitz(self, batch_size: int) -> float:
        """Expected smoothness of a mini-batch loss (Gower et al. 2019, sampling without
        replacement):  L(B) = n(B-1)/(B(n-1)) L + (n-B)/(B(n-1)) L_max."""
        n, B = self.n, min(batch_size, self.n)
        if n <= 1 or B >= n:
            return self.lipschitz()
        L, Lmax = self.lipschitz(), self.max_row_lipschitz()
        return n * (B - 1) / (B * (n - 1)) * L + (n - B) / (B * (n - 1)) * Lmax
