"""How close a fit is to the optimum: the optimality certificate of every iterative fit.

A small gradient does not by itself say how many digits of the coefficients are right: on
collinear data a gradient of 1e-10 can sit 1% from the optimum.  Where the curvature is known
the distance follows.  For a twice-differentiable F with Hessian H near the optimum, the
Newton step

    delta = H^-1 grad F(P),        P - P* ~= delta,

estimates the error of every coefficient (exactly, for the squared loss: F is quadratic), and
the objective gap F(P) - F* ~= delta' H delta / 2.  H comes from the Gram statistics of the
data (the squared loss: H is constant) or from one pass weighting each row by the loss's second
derivative (Huber), for d up to :data:`CERTIFY_MAX_D`.  With an L1 penalty the Newton step is
taken on the support (the nonzero coefficients, where F is smooth); a zero coefficient is
right when its gradient is within the penalty's threshold, and off by about the excess over
its curvature otherwise.

The certificate reports, at the returned parameters:

grad_norm, grad_norm_rel   the gradient mapping's norm, and relative to its start
coef_error, intercept_error  |delta| per coefficient in the caller's units
coef_rel_error             max_j sigma_j |delta_j| / max_j sigma_j |w_j| (standardized units)
digits                     the significant digits it supports for every coefficient and the
                           intercept (the smallest of floor(-log10 |delta_j / w_j|), 0..15)
objective_gap_rel          (F - F*) / |F|
method                     "hessian" (squared loss), "curvature-pass" (another loss) or
                           "gradient" (no curvature known: only the gradient's norm)
"""

from __future__ import annotations

import numpy as np

from gradfit.model import kernels
from gradfit.model.losses import get_loss
from gradfit.model.penalties import penalty_parts
from gradfit.model.sparse import dense_rows

__all__ = ["CERTIFY_MAX_D", "Certifier", "MAX_DIGITS", "UNRELIABLE_RCOND",
           "coefficient_digits", "normwise_error", "parameter_digits"]

CERTIFY_MAX_D = 256
"""Largest number of features for which the certificate builds the (d x d) curvature."""
MAX_DIGITS = 15


class Certifier:
    """Newton-step estimates of the distance to the optimum for one objective.

    Parameters
    ----------
    obj : Objective
    hessian : ndarray (p, p) or None
        The smooth part's Hessian in solver coordinates; None to build it: from the Gram
        statistics for the squared loss, else (``curvature_pass=True``) by one pass at the
        point certified.
    """

    def __init__(self, obj, hessian=None, curvature_pass=True):
        self.obj = obj
        parts = penalty_parts(obj.prox_penalty)
        known = parts is not None  # another penalty's curvature is not known here
        self.l1, self.l2 = parts if known else (0.0, 0.0)
        self.c = None if obj.c is None else obj.c[:, 0]
        H = hessian
        if H is None and obj.loss == "squared" and known:
            H = obj.solver_hessian()
        self.H = None if H is None else self._with_penalty(H)
        self.constant = self.H is not None
        self.curvature_pass = (curvature_pass and known and not self.constant and obj.k == 1
                               and obj.d <= CERTIFY_MAX_D
                               and get_loss(obj.loss).d2pred is not None)
        self._inv = None
        # constant columns (zero spread; the scaling keeps their coordinate as it is)
        self.flat = np.zeros(obj.p, dtype=bool)
        if obj.G is not None and obj.d:
            spread = np.sqrt(np.maximum(np.diag(obj.G), 0.0))
            self.flat[:obj.d] = spread <= 1e-13 * np.maximum(np.abs(obj.mu), 1e-300)

    def _with_penalty(self, H):
        """H plus the proximal part's L2 curvature on the coefficient rows."""
        if not self.l2:
            return H
        H = H.copy()
        d = self.obj.d
        H[np.arange(d), np.arange(d)] += self.l2 * self.c**2
        return H

    @property
    def available(self) -> bool:
        """Whether the distance (not only the gradient's norm) can be estimated."""
        return self.constant or self.curvature_pass

    # ---------------------------------------------------------------- the Newton step
    def _hessian(self, P):
        if self.constant:
            return self.H
        return self._with_penalty(curvature_hessian(self.obj, P))

    def _inverse(self, H, rows=None):
        """H^-1 (on ``rows``), or None when H is too ill-conditioned for the Newton step to
        mean anything in double precision (it is then no certificate)."""
        if rows is None and H is self.H:
            if self._inv is None:
                self._inv = (_inverse(H, self.flat),)
            return self._inv[0]
        if rows is None:
            return _inverse(H, self.flat)
        return _inverse(H[np.ix_(rows, rows)], self.flat[rows])

    def newton_step(self, P, g, H=None):
        """(delta (p, k) in solver coordinates with P - delta ~= P*, and the inverse of the
        Hessian used, per output), or None when the curvature cannot certify."""
        H = self._hessian(P) if H is None else H
        if H is None:
            return None
        gt = g + self.obj.smooth_penalty_grad(P)
        delta = np.zeros_like(P)
        for j in range(P.shape[1]):
            step = self._one_output(H, P[:, j], gt[:, j])
            if step is None:
                return None
            delta[:, j] = step
        return delta

    def _one_output(self, H, p, gt):
        d = self.obj.d
        if not self.l1:
            Hinv = self._inverse(H)
            return None if Hinv is None else Hinv @ gt
        w = p[:d]
        active = np.ones(len(p), dtype=bool)
        active[:d] = w != 0
        gs = gt.copy()
        gs[:d] += np.where(w != 0, self.l1 * self.c * np.sign(w), 0.0)
        delta = np.zeros(len(p))
        if active.any():
            Hinv = self._inverse(H, active)
            if Hinv is None:
                return None
            delta[active] = Hinv @ gs[active]
        excess = np.maximum(np.abs(gt[:d]) - self.l1 * self.c, 0.0)  # zero coefficients
        off = ~active[:d]
        delta[:d][off] = np.sign(gt[:d][off]) * excess[off] / np.maximum(np.diag(H)[:d][off],
                                                                        1e-300)
        return delta

    # ---------------------------------------------------------------- measures
    def relative_error(self, P, g) -> float | None:
        """max over outputs of the normwise relative error of the coefficients and the
        centred intercept, in standardized units; None without (reliable) curvature."""
        delta = self.newton_step(P, g) if self.constant else None
        if delta is None:
            return None
        return _normwise(self.obj, P, delta)

    def certify(self, P, g, G0: float, step: float) -> dict:
        """The certificate at P (``g`` the smooth part's gradient there); see the module
        docstring.  The error of each coefficient is the Newton step's plus the rounding
        floor: the step that the gradient's own rounding error (residuals and sums in double
        precision) would cause."""
        obj = self.obj
        Gn = float(np.sqrt((obj.grad_mapping(P, g, step) ** 2).sum()))
        out = {"grad_norm": Gn, "grad_norm_rel": Gn / G0 if G0 > 0 else 0.0,
               "method": "gradient", "digits": None, "coef_rel_error": None,
               "objective_gap_rel": None}
        if not self.available:
            return out
        H = self._hessian(P)
        delta = self.newton_step(P, g, H)
        if delta is None or not np.all(np.isfinite(delta)):
            out.update(method="ill-conditioned", digits=0,
                       note="the curvature is too ill-conditioned in double precision to "
                            "bound the distance to the optimum")
            return out
        floor = self._floor(P, H)
        coef, icpt = obj.to_original(P)
        dw, db = _original_step(obj, np.abs(delta) + floor, absolute=True)
        bt = np.abs(obj.split(P)[1])
        coef_digits, digits, icpt_digits = coefficient_digits(coef, icpt, dw, db, _spread(obj),
                                                              obj.fit_intercept, bt)
        f = obj.value(P)
        gap = 0.5 * float((delta * (H @ delta)).sum())
        out.update(
            method="hessian" if self.constant else "curvature-pass",
            coef_error=np.abs(dw), intercept_error=np.abs(db) if obj.fit_intercept else None,
            coef_rel_error=_normwise(obj, P, np.abs(delta) + floor),
            digits=digits, coef_digits=coef_digits, intercept_digits=icpt_digits,
            objective_gap_rel=abs(gap) / max(abs(f), 1e-300))
        return out

    def _floor(self, P, H):
        """The rounding floor in solver coordinates (p, k): the standard deviation of the
        Newton step that the gradient's own rounding error would cause."""
        Hinv = _inverse(H, self.flat)
        if Hinv is None:
            return np.full_like(P, np.inf)
        M = rounding_covariance(self.obj, P)  # (k, p, p)
        return np.sqrt(np.maximum(np.einsum("ij,kjl,il->ik", Hinv, M, Hinv), 0.0))


ROUNDING_SAMPLE = 20_000
"""About this many rows estimate the rounding floor."""
ROUNDING_FACTOR = 4.0
"""Safety factor on the statistical size of the rounding errors (about 4 standard
deviations)."""


def rounding_covariance(obj, P):
    """(k, p, p): the covariance of the rounding error of the computed gradient at P, in
    solver coordinates.  Each residual r_i = y_i - (z_i w + b) is exact only to about
    eps a_i, a_i = |r_i| + |y_i| + |z_i||w| + |b|, and those errors are independent, so the
    gradient's error Z' S e / S has covariance

        c^2 eps^2 A~' (sum_i s_i^2 a_i^2 z~_i z~_i') A~ / S^2,    z~_i = [z_i, 1],

    with c = :data:`ROUNDING_FACTOR` (the sums' own rounding is of the same order and
    absorbed in c).  The sum is estimated from every ``n / ROUNDING_SAMPLE``-th row (it is an
    order of magnitude, not a digit), so the pass reads few rows of a large data set."""
    coef, icpt = obj.to_original(P)
    mu = obj.mu
    bt = icpt + mu @ coef if obj.fit_intercept else np.zeros(obj.k)
    ones = 1 if obj.fit_intercept else 0
    stride = max(1, obj.n // ROUNDING_SAMPLE)

    def block(X, Y, s):
        if stride > 1:
            X, Y, s = X[::stride], Y[::stride], None if s is None else s[::stride]
        d, k = X.shape[1], Y.shape[1]
        M = np.zeros((k, d + ones, d + ones))
        for start in range(0, X.shape[0], kernels.BLOCK_ROWS):
            Z = dense_rows(X[start:start + kernels.BLOCK_ROWS]) - mu
            Yb = Y[start:start + kernels.BLOCK_ROWS]
            a = np.abs(Yb - Z @ coef - bt) + np.abs(Yb) + np.abs(Z) @ np.abs(coef) + np.abs(bt)
            if s is not None:
                a = a * s[start:start + kernels.BLOCK_ROWS, None]
            Za = np.column_stack([Z, np.ones(len(Z))]) if ones else Z
            for j in range(k):
                Zw = Za * a[:, j:j + 1]
                M[j] += Zw.T @ Zw
        return (M,)

    (M,) = obj.data.map_reduce(block)
    d = obj.d
    T = np.eye(obj.p)  # the map from (w, b~) gradients to solver coordinates: A' on w
    T[:d, :d] = obj.scaling.grad(np.eye(d))
    scale = stride * (ROUNDING_FACTOR * np.finfo(float).eps / obj.S) ** 2
    return scale * np.einsum("ij,kjl,ml->kim", T, M, T)


RELATIVE_FLOOR = 1e-8


def _relative(err, size):
    """err / size, 0 where both vanish, inf where only the size does."""
    return np.where(size > 0, err / np.where(size > 0, size, 1.0),
                    np.where(err > 0, np.inf, 0.0))


def _spread(obj):
    """The columns' spreads (sqrt of the Gram diagonal), ones without the statistics."""
    G = obj.G
    return np.sqrt(np.maximum(np.diag(G), 0.0)) if G is not None else np.ones(obj.d)


def _inverse(H, flat=None):
    """The inverse of a symmetric positive (semi-)definite H, or None when its condition
    number is beyond what double precision can invert meaningfully.  ``flat`` (p,) bool: the
    coordinates of constant columns, which the objective does not see (their rows of the
    inverse are left 0: their gradient is 0 and they stay where they are)."""
    if H.size == 0:
        return H
    if flat is not None and flat.any() and not flat.all():
        inv = _inverse(H[np.ix_(~flat, ~flat)])
        if inv is None:
            return None
        out = np.zeros_like(H)
        out[np.ix_(~flat, ~flat)] = inv
        return out
    evals, V = np.linalg.eigh(H)
    top = float(evals.max())
    if top <= 0 or evals.min() <= top * UNRELIABLE_RCOND:
        return None
    return (V / evals) @ V.T


UNRELIABLE_RCOND = 1e4 * np.finfo(float).eps
"""Below this reciprocal condition of the curvature the Newton step is no certificate: the
Hessian itself is known only to about eps x its largest eigenvalue."""


def _original_step(obj, delta, absolute=False):
    """The Newton step in the caller's units: (dw (d, k), db (k,)).  With ``absolute``,
    ``delta`` holds error bounds (>= 0) and the map uses |A| and |mu| (bounds stay bounds)."""
    dwt, dbt = obj.split(delta)
    if not absolute:
        dw = obj.scaling.coef(dwt)
        return dw, (dbt - obj.mu @ dw if obj.fit_intercept else np.zeros(obj.k))
    A = obj.scaling.A
    dw = dwt / obj.sigma[:, None] if A is None else np.abs(A) @ dwt
    db = dbt + np.abs(obj.mu) @ dw if obj.fit_intercept else np.zeros(obj.k)
    return dw, db


def _normwise(obj, P, delta) -> float:
    """max_j sigma_j |dw_j| / max_j sigma_j |w_j| over the coefficients, and the centred
    intercept's error relative to the larger of |b~| and that scale (per output, worst)."""
    dw, _ = _original_step(obj, np.abs(delta), absolute=True)
    coef, _ = obj.to_original(P)
    return normwise_error(coef, dw, _spread(obj), obj.fit_intercept, obj.split(P)[1],
                          obj.split(delta)[1])


def normwise_error(coef, dw, spread, fit_intercept, bt, dbt) -> float:
    """The normwise relative error of coefficients ``coef`` (d, k) with errors ``dw`` (caller's
    units) in standardized units (``spread``: the columns' spreads), and of the centred
    intercepts ``bt`` (k,) with errors ``dbt`` relative to the larger of |b~| and that scale:
    the worst output."""
    num = (spread[:, None] * np.abs(dw)).max(axis=0) if len(coef) else np.zeros(coef.shape[1])
    den = (spread[:, None] * np.abs(coef)).max(axis=0) if len(coef) else np.zeros(coef.shape[1])
    rel = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
    if fit_intercept:
        bt, dbt = np.asarray(bt, float), np.asarray(dbt, float)
        scale = np.maximum(np.abs(bt), den)
        rel = np.maximum(rel, np.where(scale > 0, np.abs(dbt) / np.where(scale > 0, scale, 1.0),
                                       np.where(dbt != 0, np.inf, 0.0)))
    return float(rel.max())


def parameter_digits(cert, n_coef: int, fit_intercept: bool) -> np.ndarray:
    """The significant digits the certificate supports for each parameter of a single-output
    fit, the intercept first (the order of a summary's table): a float array of whole
    numbers 0..:data:`MAX_DIGITS`, NaN where the certificate bounds nothing (no curvature
    known, d above :data:`CERTIFY_MAX_D`, or no certificate)."""
    cert = cert or {}
    p = int(n_coef) + bool(fit_intercept)
    overall = cert.get("digits")
    if overall is None:
        return np.full(p, np.nan)
    coef = cert.get("coef_digits")
    coef = np.full(n_coef, float(overall)) if coef is None else \
        np.asarray(coef, float).reshape(-1)[:n_coef]
    if not fit_intercept:
        return coef
    icpt = cert.get("intercept_digits")
    icpt = float(overall) if icpt is None else float(np.asarray(icpt, float).reshape(-1)[0])
    return np.r_[icpt, coef]


def coefficient_digits(coef, icpt, dw, db, spread, fit_intercept, bt):
    """(digits per coefficient (d, k) int, the smallest over coefficients and intercepts,
    digits per intercept (k,) int): floor(-log10) of each error relative to its value,
    0..MAX_DIGITS.  A coefficient is
    measured against its own size, but not below :data:`RELATIVE_FLOOR` of the model's scale
    (the largest standardized coefficient; the centred intercept ``bt``): the relative error
    of a coefficient that is zero to working precision says nothing."""
    coef, dw = np.asarray(coef, float), np.asarray(dw, float)
    scale = (spread[:, None] * np.abs(coef)).max(axis=0) if len(coef) else np.zeros(
        coef.shape[1])
    tiny = RELATIVE_FLOOR * np.maximum(scale, np.abs(bt) if fit_intercept else 0.0)
    rel = _relative(dw, np.maximum(np.abs(coef), tiny / np.where(spread > 0, spread,
                                                                    1.0)[:, None]))
    parts = [rel.ravel()]
    if fit_intercept:
        parts.append(_relative(np.asarray(db, float),
                               np.maximum(np.abs(np.asarray(icpt, float)), tiny)).ravel())
    allrel = np.concatenate(parts)
    with np.errstate(divide="ignore"):
        per = np.clip(np.floor(-np.log10(np.maximum(allrel, 10.0 ** -MAX_DIGITS))), 0,
                      MAX_DIGITS)
    digits = int(per.min()) if per.size else MAX_DIGITS
    icpt_digits = per[dw.size:].astype(int) if fit_intercept else None
    return per[: dw.size].reshape(dw.shape).astype(int), digits, icpt_digits


def curvature_hessian(obj, P):
    """The smooth part's Hessian at P in solver coordinates, by one pass weighting each
    row's outer product by the loss's second derivative at its residual (first output)."""
    loss = get_loss(obj.loss)
    coef, icpt = obj.to_original(P)
    v = coef[:, :1]
    b = float(icpt[0])
    mu, eps = obj.mu, obj.epsilon

    def block(X, Y, s):
        d = X.shape[1]
        M = np.zeros((d + 1, d + 1))
        for start in range(0, X.shape[0], kernels.BLOCK_ROWS):
            Z = dense_rows(X[start:start + kernels.BLOCK_ROWS]) - mu
            r = Y[start:start + kernels.BLOCK_ROWS, 0] - (Z @ v[:, 0] + (b + mu @ v[:, 0]))
            h = loss.d2pred(r, eps)
            if s is not None:
                h = h * s[start:start + kernels.BLOCK_ROWS]
            Zh = Z * h[:, None]
            M[:d, :d] += Z.T @ Zh
            M[:d, d] += Zh.sum(axis=0)
            M[d, d] += h.sum()
        M[d, :d] = M[:d, d]
        return (M,)

    (M,) = obj.data.map_reduce(block)
    M = M / obj.S
    d = obj.d
    Hw = obj.scaling.in_solver(M[:d, :d])
    if obj.folded_l2:
        Hw = Hw + obj.folded_l2 * obj.scaling.in_solver(np.eye(d))
    if not obj.fit_intercept:
        return Hw
    H = np.zeros((d + 1, d + 1))
    H[:d, :d] = Hw
    H[:d, d] = H[d, :d] = obj.scaling.grad(M[:d, d:])[:, 0]
    H[d, d] = M[d, d]
    return H
