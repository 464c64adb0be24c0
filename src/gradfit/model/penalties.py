"""Penalties R(w): value, gradient of the smooth part, and the proximal operator.

The objective adds ``alpha * R(w)``; the intercept is never penalized.  Every function takes
per-coordinate weights ``c`` (shape (d, 1) or broadcastable) so that a penalty on the original
coefficients w = c * w~ can be applied in the solver's standardized coordinates w~
(c = 1 / sigma); with c = 1 it is the plain penalty.

none        R = 0
l2          R = 1/2 ||w||^2
l1          R = ||w||_1
elasticnet  R = l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2

All four are separable, so their prox is exact and closed-form:

    prox_{s R}(u) = argmin_w  R(c w) s + 1/2 ||w - u||^2
                  = soft(u, s l1 c) / (1 + s l2 c^2)

with l1 = alpha * l1_ratio and l2 = alpha * (1 - l1_ratio) (l1_ratio is 0 for l2, 1 for l1).
Gradient descent on the smooth data term followed by this prox is proximal gradient descent
(ISTA; FISTA with Nesterov's extrapolation): lasso is not a separate solver.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["Penalty", "ElasticNetPenalty", "make_penalty", "penalty_parts", "PENALTY_NAMES"]

PENALTY_NAMES = ("none", "l2", "l1", "elasticnet")


@runtime_checkable
class Penalty(Protocol):
    """What the objective and the solvers ask of a penalty alpha * R(w).

    ``c`` holds per-coordinate weights (the penalty on w = c * w~ in the solver's separable
    coordinates); ``prox(u, step, c)`` is argmin_w step * alpha R(c w) + 1/2 ||w - u||^2.
    A penalty with ``is_smooth`` True has a gradient (``smooth_grad``) and may be used with
    the smooth solvers (L-BFGS, CG); any penalty with a prox works with the first-order
    solvers.  The built-in ones (:class:`ElasticNetPenalty`) also say their ``l1`` and
    ``l2`` parts, which the closed form, whitening and the certificate use."""

    name: str

    @property
    def is_zero(self) -> bool: ...

    @property
    def is_smooth(self) -> bool: ...

    def value(self, w, c=1.0) -> float: ...

    def smooth_grad(self, w, c=1.0): ...

    def prox(self, u, step, c=1.0): ...


class ElasticNetPenalty(NamedTuple):
    """alpha * [l1_ratio ||c w||_1 + (1 - l1_ratio)/2 ||c w||^2]  with the names' l1_ratio:
    none, l2, l1 and elasticnet."""

    name: str
    alpha: float
    l1_ratio: float

    @property
    def l1(self) -> float:
        return self.alpha * self.l1_ratio

    @property
    def l2(self) -> float:
        return self.alpha * (1.0 - self.l1_ratio)

    @property
    def is_zero(self) -> bool:
        return self.alpha == 0.0 or self.name == "none"

    @property
    def is_smooth(self) -> bool:
        return self.l1 == 0.0

    def value(self, w, c=1.0) -> float:
        """alpha R(c w)."""
        if self.is_zero:
            return 0.0
        cw = c * w
        return float(self.l1 * np.abs(cw).sum() + 0.5 * self.l2 * (cw * cw).sum())

    def smooth_grad(self, w, c=1.0):
        """Gradient of the smooth (l2) part with respect to w:  l2 c^2 w."""
        if self.is_zero or self.l2 == 0.0:
            return np.zeros_like(w)
        return self.l2 * c * c * w

    def prox(self, u, step, c=1.0):
        """prox of step * alpha * R(c .) at u: soft-threshold, then shrink."""
        if self.is_zero:
            return u
        out = u
        if self.l1 > 0.0:
            t = step * self.l1 * c
            out = np.sign(out) * np.maximum(np.abs(out) - t, 0.0)
        if self.l2 > 0.0:
            out = out / (1.0 + step * self.l2 * c * c)
        return out


def make_penalty(name, alpha: float, l1_ratio: float) -> Penalty:
    """Build a Penalty from the estimator's (penalty, alpha, l1_ratio); a penalty object
    (anything following the :class:`Penalty` protocol) is used as it is."""
    if name is not None and not isinstance(name, str):
        if not isinstance(name, Penalty):
            raise ValueError(f"penalty={name!r} is neither a name ({PENALTY_NAMES[1:]}) nor an "
                             "object with name, is_zero, is_smooth, value, smooth_grad and prox")
        return name
    name = "none" if name is None else name
    if name not in PENALTY_NAMES:
        raise ValueError(f"penalty={name!r} is not known; use None or one of {PENALTY_NAMES[1:]}")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    if name == "elasticnet":
        l1_ratio = float(l1_ratio)
        if not 0.0 <= l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
    else:
        l1_ratio = {"none": 0.0, "l2": 0.0, "l1": 1.0}[name]
    if name == "none":
        alpha = 0.0
    return ElasticNetPenalty(name, alpha, l1_ratio)


def penalty_parts(penalty) -> tuple[float, float] | None:
    """(l1, l2): the strengths of the L1 and the (1/2) L2 parts, for the built-in penalties
    (zero for none); None for another penalty object, whose shape the closed form, whitening
    and the curvature certificate cannot use."""
    if isinstance(penalty, ElasticNetPenalty):
        return (0.0, 0.0) if penalty.is_zero else (penalty.l1, penalty.l2)
    if getattr(penalty, "is_zero", False):
        return 0.0, 0.0
    return None
