"""Losses on the residual r = y - p, with their derivative with respect to the prediction p.

Each loss gives ``value(r)`` and ``dpred(r)`` = d loss / d p (river's convention), so the chain
rule ``X' dL / n`` is written once, in the pass kernel.

squared :  l(r) = r^2,                                  dl/dp = -2 r
huber   :  l(r) = r^2             if |r| <= epsilon     dl/dp = -2 r
           l(r) = 2 eps |r| - eps^2  otherwise          dl/dp = -2 eps sign(r)

Huber is scaled to equal the squared loss in its quadratic zone, so its objective reads as a
mean squared error for small residuals; both have a second derivative bounded by 2.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Loss", "LOSSES", "get_loss", "register_loss"]


class Loss(NamedTuple):
    name: str
    value: callable  # (r, epsilon) -> elementwise loss
    dpred: callable  # (r, epsilon) -> elementwise d loss / d prediction
    curvature: float  # upper bound of d2 loss / dp2 (for the Lipschitz constant)
    d2pred: callable = None  # (r, epsilon) -> d2 loss / dp2 elementwise (None: unknown)


def _squared_value(r, epsilon=None):
    return r * r


def _squared_dpred(r, epsilon=None):
    return -2.0 * r


def _huber_value(r, epsilon):
    a = np.abs(r)
    return np.where(a <= epsilon, r * r, 2.0 * epsilon * a - epsilon * epsilon)


def _huber_dpred(r, epsilon):
    return -2.0 * np.clip(r, -epsilon, epsilon)


def _squared_d2pred(r, epsilon=None):
    return np.full(np.shape(r), 2.0)


def _huber_d2pred(r, epsilon):
    return np.where(np.abs(r) <= epsilon, 2.0, 0.0)


LOSSES = {
    "squared": Loss("squared", _squared_value, _squared_dpred, 2.0, _squared_d2pred),
    "huber": Loss("huber", _huber_value, _huber_dpred, 2.0, _huber_d2pred),
}


def get_loss(name: str) -> Loss:
    """Look a loss up by name; a clear error lists the known ones."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"loss={name!r} is not known; use one of {sorted(LOSSES)}") from None


def register_loss(loss: Loss) -> Loss:
    """Add a loss to the registry (by ``loss.name``): every solver, the estimator and the CLI
    then accept it.  ``value`` and ``dpred`` take ``(r, epsilon)`` arrays (r = y - prediction)
    and work elementwise; ``curvature`` bounds the second derivative with respect to the
    prediction (the automatic rate is 1 / (curvature x the data's largest eigenvalue));
    ``d2pred``, when given, lets the optimality certificate measure the distance to the
    optimum.  The numpy pass kernel serves any registered loss; the compiled one its own."""
    if not isinstance(loss, Loss):
        raise TypeError("register_loss takes a gradfit.model.losses.Loss")
    if not (np.isfinite(loss.curvature) and loss.curvature > 0):
        raise ValueError(f"loss {loss.name!r}: curvature must be a positive number")
    LOSSES[loss.name] = loss
    return loss
