r"""How far the given parameters are from the optimum: gradient, objective gap and distance,
computed exactly from the sufficient statistics (the objective is quadratic)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradfit.stats.geometry import Geometry
from gradfit.stats.linalg import solve_upper, solve_upper_t

__all__ = ["GAP_WARN_REL", "Optimality", "huber_optimality", "optimality"]

#: relative objective gap above which a summary warns that the fit is not at the optimum.
GAP_WARN_REL = 1e-8


@dataclass
class Optimality:
    numbers: dict
    optimum: dict
    gap: float
    noise: float
    #: the objective the optimum minimises ("least-squares" or "Huber")
    target: str = "least-squares"

    def warnings(self, stats) -> list[str]:
        rel = self.numbers["objective_gap_rel"]
        if not np.isfinite(rel) or rel <= GAP_WARN_REL or self.gap <= self.noise:
            return []
        return [f"The parameters are not at the {self.target} optimum: objective gap "
                f"F(θ) - F(θ*) = {self.gap:.3g} ({rel:.3g} of F(θ)), ||θ - θ*|| / ||θ*|| = "
                f"{self.numbers['coef_rel_distance']:.3g}, gradient norm "
                f"{self.numbers['grad_norm']:.3g}. Residual statistics are computed at the "
                "given parameters; the standard errors and tests assume the optimum."]


def optimality(stats, geo: Geometry) -> Optimality:
    r"""Gradient, objective gap and distance to the exact optimum :math:`\theta^*`.

    With an intercept, :math:`\delta b = \sum s e / S` and :math:`g = \sum s e (x - \bar x)`:
    :math:`\nabla_w F = -\frac2S (g + \bar x \sum s e)`, :math:`\nabla_b F = -2\,\delta b`,
    :math:`w^* = w + C^{-1} g`, :math:`b^* = b + \delta b - \bar x^\top (w^* - w)` and
    :math:`F - F^* = g^\top C^{-1} g / S + \delta b^2`, with :math:`C^{-1} g` from two
    triangular solves (a Newton step, exact because F is quadratic).  Without:
    :math:`g_0 = \sum s e x`, :math:`w^* = w + (X^\top W X)^{-1} g_0`,
    :math:`F - F^* = g_0^\top (X^\top W X)^{-1} g_0 / S`.
    """
    st = stats
    sw, w, b = st.sw_sum, st.coef.astype(st.dtype), st.dtype.type(st.intercept)
    g0 = st.grad_c + st.mean_x * st.sum_se
    grad = -2 / sw * g0
    if st.fit_intercept:
        grad = np.r_[-2 * st.sum_se / sw, grad]
    obj = st.ssr / sw
    nan = {"grad_norm": float(np.sqrt(grad @ grad)), "objective": float(obj)}
    if not geo.full_rank:
        nan.update(objective_gap=np.nan, objective_gap_rel=np.nan, coef_rel_distance=np.nan,
                   objective_optimum=np.nan)
        return Optimality(nan, {"coef": np.full(len(w), np.nan), "intercept": np.nan},
                           np.nan, 0.0)
    u = solve_upper_t(geo.r, g0 if not st.fit_intercept else st.grad_c)
    step = solve_upper(geo.r, u)
    gap = (u @ u) / sw
    w_star = w + step
    b_star = b
    if st.fit_intercept:
        db = st.sum_se / sw
        gap = gap + db * db
        b_star = b + db - st.mean_x @ step
    theta, theta_star = _theta_of(st, w, b), _theta_of(st, w_star, b_star)
    dist = np.sqrt(((theta - theta_star) ** 2).sum())
    norm_star = np.sqrt((theta_star**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_dist = dist / norm_star if norm_star > 0 else (0.0 if dist == 0 else np.inf)
        rel_gap = gap / obj if obj > 0 else 0.0
    nan.update(objective_gap=float(gap), objective_gap_rel=float(rel_gap),
               coef_rel_distance=float(rel_dist), objective_optimum=float(max(obj - gap, 0)))
    # the gap that rounding theta* to float64 (the parameters' own precision) can leave
    noise = float((16 * np.finfo(np.float64).eps) ** 2 * st.err_scale / sw)
    optimum = {"coef": np.asarray(w_star, float), "intercept": float(b_star)}
    return Optimality(nan, optimum, float(gap), noise)


def _theta_of(stats, w, b) -> np.ndarray:
    return np.r_[b, w] if stats.fit_intercept else w



def huber_optimality(X, y, sample_weight, coef, intercept, *, fit_intercept=True,
                     epsilon=1.35, max_iter=200) -> Optimality:
    r"""Gradient, objective gap and distance to the optimum of the **Huber** objective.

    :math:`F(\theta) = \sum_i s_i \rho_\varepsilon(e_i) / S`, :math:`\rho_\varepsilon(e) = e^2`
    for :math:`|e| \le \varepsilon`, :math:`2\varepsilon|e| - \varepsilon^2` beyond (gradfit's
    Huber loss), :math:`e_i = y_i - z_i^\top\theta`.  :math:`F` is convex and piecewise
    quadratic: the optimum :math:`\theta^*` is found by semismooth Newton steps
    :math:`\theta \leftarrow \theta - t H^{-1}\nabla F`, :math:`\nabla F = -\frac2S \sum s_i
    \psi(e_i) z_i`, :math:`\psi(e) = \operatorname{clip}(e, \pm\varepsilon)`,
    :math:`H = \frac2S \sum_{|e_i| \le \varepsilon} s_i z_i z_i^\top` (least squares when
    :math:`H` is singular), with backtracking on :math:`F`; it stops when the set of inliers
    and the objective stop changing.  The numbers are those of :func:`optimality`, for this
    objective.
    """
    from gradfit.model.losses import get_loss

    loss = get_loss("huber")
    X = np.asarray(X, float)
    y = np.asarray(y, float).ravel()
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    keep = s > 0
    X, y, s = X[keep], y[keep], s[keep]
    z = np.column_stack([np.ones(len(y)), X]) if fit_intercept else X
    sw = s.sum()
    theta0 = np.r_[float(intercept), np.asarray(coef, float)] if fit_intercept \
        else np.asarray(coef, float)

    def value_grad(t):
        e = y - z @ t
        return (s @ loss.value(e, epsilon)) / sw, z.T @ (s * loss.dpred(e, epsilon)) / sw, e

    f0, g0, _ = value_grad(theta0)
    # start from the better of the given parameters and the least-squares fit
    hess_ls = z.T @ (s[:, None] * z) * (2 / sw)  # majorizes every Huber Hessian
    t_ls = np.linalg.lstsq(np.sqrt(s)[:, None] * z, np.sqrt(s) * y, rcond=None)[0]
    f_ls, g_ls, _ = value_grad(t_ls)
    t, f, g = (t_ls, f_ls, g_ls) if f_ls < f0 else (theta0, f0, g0)
    for _ in range(max_iter):
        e = y - z @ t
        hess = z.T @ ((s * loss.d2pred(e, epsilon))[:, None] * z) / sw
        moved = False
        for h in (hess, hess_ls):  # Newton, else the majorize-minimize step (always descends)
            t_new, f_new, g_new = _backtrack(value_grad, t, f, g,
                                             np.linalg.lstsq(h, -g, rcond=None)[0])
            if f_new < f:
                moved = True
                break
        if not moved:
            break
        done = f - f_new <= 4 * np.finfo(float).eps * abs(f)
        t, f, g = t_new, f_new, g_new
        if done:
            break
    theta_star = t
    gap = max(float(f0 - f), 0.0)
    dist = float(np.linalg.norm(theta0 - theta_star))
    norm_star = float(np.linalg.norm(theta_star))
    numbers = {"grad_norm": float(np.linalg.norm(g0)), "objective": float(f0),
               "objective_gap": gap, "objective_gap_rel": gap / f0 if f0 > 0 else 0.0,
               "coef_rel_distance": dist / norm_star if norm_star > 0 else
               (0.0 if dist == 0 else np.inf),
               "objective_optimum": float(f)}
    optimum = {"coef": theta_star[1:] if fit_intercept else theta_star,
               "intercept": float(theta_star[0]) if fit_intercept else 0.0}
    noise = float(64 * np.finfo(float).eps * max(f0, np.finfo(float).tiny))
    return Optimality(numbers, optimum, gap, noise, target="Huber")


def _backtrack(value_grad, t, f, g, step, tries=60):
    """Armijo backtracking along ``step``: the first ``t + lr step`` that decreases ``f``
    enough (or ``t`` itself)."""
    lr, slope = 1.0, max(-(g @ step), 0.0)
    for _ in range(tries):
        t_new = t + lr * step
        f_new, g_new, _ = value_grad(t_new)
        if f_new <= f - 1e-4 * lr * slope:
            return t_new, f_new, g_new
        lr /= 2
    return t, f, g
