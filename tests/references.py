"""Exact optima independent of gradfit, for the conformance table (issue 11), and the
certificate's measure of correct digits.

The objective is docs/CORE_API.md's

    F(w, b) = sum_i s_i loss(y_i - x_i.w - b) / S + alpha (rho ||w||_1 + (1 - rho)/2 ||w||^2)

(S = sum s; squared loss r^2; Huber r^2 for |r| <= epsilon, 2 epsilon |r| - epsilon^2 beyond).

Squared loss, any penalty: the optimum solves, on its support A with signs sigma,

    (2/S) Z_A' W Z_A w_A + alpha (1 - rho) w_A = (2/S) Z_A' W y_c - alpha rho sigma_A

(Z the centred design); the support and signs come from scikit-learn's coordinate descent
run to tol=1e-15, are corrected until the optimality conditions hold, and the equations are
solved by Householder QR (numpy) with refinement of the residual in 80-bit long double (as
``realdata.reference_solution``).  Huber: a semismooth Newton method (the objective is
piecewise quadratic, so Newton's step on the current set of small residuals is exact once
that set is right) from scipy's L-BFGS, gradients in long double.

Each reference also says how far it trusts itself: ``trust`` digits, from the size of its
last correction (the tests compare at most that many digits).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

LD = np.longdouble
RELATIVE_FLOOR = 1e-8  # the certificate's: docs in gradfit.solvers.certificate


@dataclass
class Reference:
    coef: np.ndarray
    intercept: float
    trust: float  # digits the reference itself is good for (0..15)


def _weights(n, sample_weight):
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)


def _trust(correction, size) -> float:
    rel = float(np.max(np.abs(correction)) / max(float(np.max(np.abs(size))), 1e-300))
    return 15.0 if rel == 0 else float(np.clip(-np.log10(rel) - 1.0, 0.0, 15.0))


def squared_optimum(X, y, *, alpha=0.0, l1_ratio=0.0, sample_weight=None,
                    fit_intercept=True) -> Reference | None:
    """The exact minimiser of the squared loss with an elastic-net penalty (l1_ratio 0: ridge,
    alpha 0: least squares), or None when the support could not be settled."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    n, d = X.shape
    s = _weights(n, sample_weight)
    sl = s.astype(LD)
    S = sl.sum()
    mu = (sl @ X.astype(LD)) / S if fit_intercept else np.zeros(d, LD)
    Z = X.astype(LD) - mu
    ybar = (sl @ y.astype(LD)) / S if fit_intercept else LD(0)
    lam1, lam2 = LD(alpha * l1_ratio), LD(alpha * (1.0 - l1_ratio))
    if lam1 == 0:
        active, signs = np.ones(d, bool), np.zeros(d)
    else:
        w0 = _sklearn_enet(X, y, alpha, l1_ratio, s, fit_intercept)
        active, signs = w0 != 0, np.sign(w0)
    for _ in range(20):
        w, bt, trust = _solve_support(Z, y.astype(LD), sl, S, ybar, lam1, lam2, active, signs,
                                      fit_intercept)
        # the optimality conditions: signs on the support, |c_j| <= lam1 off it
        c = (2 / S) * (Z.T @ (sl * (y - bt - Z @ w))) - lam2 * w
        flipped = active & (np.sign(w) != signs) & (lam1 > 0)
        over = ~active & (np.abs(c) > lam1 * (1 + 1e-10))
        if not flipped.any() and not over.any():
            b = float(bt - mu @ w) if fit_intercept else 0.0
            return Reference(w.astype(float), b, trust)
        active = (active & ~flipped) | over
        signs = np.where(over, np.sign(c), np.where(flipped, 0.0, signs))
    return None


def _solve_support(Z, y, sl, S, bt, lam1, lam2, active, signs, fit_intercept):
    """(w, the centred intercept, trust): the optimality equations on the support, by
    refinement: residuals in long double, corrections from a QR factor in double."""
    d = Z.shape[1]
    w = np.zeros(d, LD)
    A = np.flatnonzero(active)
    ZA = Z[:, A]
    root = np.sqrt(sl)
    M = (ZA * root[:, None]).astype(float)
    scale = np.sqrt((M * M).sum(axis=0))
    scale[scale == 0] = 1.0
    mu2 = float(S * lam2 / 2)
    Aug = np.vstack([M / scale, np.diag(np.full(A.size, np.sqrt(mu2)) / scale)])
    R = np.linalg.qr(Aug, mode="r") if A.size else None
    sig = (S * lam1 / 2) * signs[A].astype(LD)
    wA = np.zeros(A.size, LD)
    trust = 15.0
    for _ in range(10):
        r = (y - bt - ZA @ wA) * sl
        if A.size:
            g = ZA.T @ r - LD(mu2) * wA - sig
            z = np.linalg.solve(R, np.linalg.solve(R.T, g.astype(float) / scale)) / scale
            wA = wA + z.astype(LD)
            trust = _trust(z, wA.astype(float))
        if fit_intercept:
            bt = bt + r.sum() / S
    w[A] = wA
    return w, bt, trust


def _sklearn_enet(X, y, alpha, l1_ratio, s, fit_intercept):
    """scikit-learn's coordinate descent, for the support and signs only (its objective is
    half of gradfit's: alpha_sk = alpha / 2, docs/CORE_API.md)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = ElasticNet(alpha=alpha / 2, l1_ratio=l1_ratio, fit_intercept=fit_intercept,
                           tol=1e-15, max_iter=200_000).fit(X, y, sample_weight=s)
    return model.coef_


def huber_optimum(X, y, *, epsilon, alpha=0.0, sample_weight=None,
                  fit_intercept=True) -> Reference | None:
    """The exact minimiser of the Huber loss with an L2 penalty (alpha/2 ||w||^2)."""
    from scipy.optimize import minimize

    X, y = np.asarray(X, float), np.asarray(y, float)
    n, d = X.shape
    s = _weights(n, sample_weight)
    S = s.sum()
    Z = np.column_stack([X, np.ones(n)]) if fit_intercept else X
    sd = Z.std(axis=0)
    sd[sd == 0] = 1.0
    if fit_intercept:
        sd[-1] = 1.0
    Zs = Z / sd  # the parameters theta_j sd_j: well scaled for the quasi-Newton start
    pen = np.r_[np.full(d, alpha), np.zeros(int(fit_intercept))] / sd**2

    def value(t, ld=False):
        r = (y.astype(LD) - Zs.astype(LD) @ t.astype(LD)) if ld else y - Zs @ t
        a = np.abs(r)
        h = np.where(a <= epsilon, r * r, 2 * epsilon * a - epsilon**2)
        psi = np.where(a <= epsilon, 2 * r, 2 * epsilon * np.sign(r))
        f = (s @ h) / S + 0.5 * (pen * t * t).sum()
        g = -(Zs.T @ (s * psi)) / S + pen * t
        return f, g, a <= epsilon

    start = np.linalg.lstsq(Zs, y, rcond=None)[0]
    t = minimize(lambda t: value(t)[:2], start, jac=True, method="L-BFGS-B",
                 options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 300}).x
    # the gradient's natural size: every residual at the threshold, in the scaled columns
    g0 = 2 * epsilon * float((s @ np.abs(Zs)).max()) / S
    trust, done = 0.0, False
    for _ in range(100):
        f, g, small = value(t, ld=True)
        H = 2 * (Zs[small].T * s[small]) @ Zs[small] / S + np.diag(pen)
        step = np.linalg.lstsq(H, g.astype(float), rcond=1e-14)[0]
        # on the same piece (the same small residuals) the full step is that piece's exact
        # minimiser; otherwise back-track on the objective
        tau, same = 1.0, np.array_equal(value(t - step, ld=True)[2], small)
        while not same and tau > 1e-8 and value(t - tau * step, ld=True)[0] > f:
            tau /= 2
        t_new = t - tau * step
        trust = _trust(t_new - t, t_new)
        t = t_new
        if same and trust >= 14.0:
            done = True
            break
    if not done or float(np.abs(value(t, ld=True)[1]).max()) > 1e-11 * g0:
        trust = 0.0  # stuck (a piece's stationary point the truncated solve did not leave)
    theta = t / sd
    if fit_intercept:
        return Reference(theta[:d], float(theta[d]), trust)
    return Reference(theta, 0.0, trust)


def spreads(X, sample_weight=None, fit_intercept=True):
    """The columns' spreads as the certificate measures them: sqrt(sum s (x - mean)^2 / S)
    (the raw second moment without an intercept)."""
    X = np.asarray(X, float)
    s = _weights(len(X), sample_weight)
    mu = (s @ X) / s.sum() if fit_intercept else np.zeros(X.shape[1])
    return np.sqrt((s @ (X - mu) ** 2) / s.sum())


def correct_digits(coef, intercept, ref: Reference, spread, fit_intercept, bt) -> float:
    """The smallest number of correct significant digits over the coefficients and the
    intercept, as the certificate defines them (gradfit.solvers.certificate): each error
    relative to its value, but not below RELATIVE_FLOOR x the model's scale (the largest
    standardized coefficient, or |bt|, the centred intercept) -- continuous, not floored."""
    coef = np.asarray(coef, float).reshape(-1)
    err = np.abs(coef - ref.coef)
    scale = float(np.max(spread * np.abs(ref.coef))) if coef.size else 0.0
    tiny = RELATIVE_FLOOR * max(scale, abs(bt) if fit_intercept else 0.0)
    sizes = np.maximum(np.abs(ref.coef), tiny / np.where(spread > 0, spread, 1.0))
    rel = list(np.where(sizes > 0, err / np.where(sizes > 0, sizes, 1), np.where(err > 0,
                                                                               np.inf, 0)))
    if fit_intercept:
        size = max(abs(ref.intercept), tiny)
        e = abs(float(intercept) - ref.intercept)
        rel.append(e / size if size > 0 else (np.inf if e > 0 else 0.0))
    worst = max(rel) if rel else 0.0
    return 15.0 if worst == 0 else float(min(15.0, -np.log10(worst)))
