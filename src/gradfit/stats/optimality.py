r"""How far the given parameters are from the optimum: gradient, objective gap and distance,
computed exactly from the sufficient statistics (the objective is quadratic)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradfit.stats.geometry import Geometry
from gradfit.stats.linalg import solve_upper, solve_upper_t

__all__ = ["GAP_WARN_REL", "Optimality", "optimality"]

#: relative objective gap above which a summary warns that the fit is not at the optimum.
GAP_WARN_REL = 1e-8


@dataclass
class Optimality:
    numbers: dict
    optimum: dict
    gap: float
    noise: float

    def warnings(self, stats) -> list[str]:
        rel = self.numbers["objective_gap_rel"]
        if not np.isfinite(rel) or rel <= GAP_WARN_REL or self.gap <= self.noise:
            return []
        return [f"The parameters are not at the least-squares optimum: objective gap "
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

