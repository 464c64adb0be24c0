"""Update rules as pure functions (optax / jax.example_libraries style).

An optimizer is a small record of functions over an immutable state:

    state            = init(P)
    direction, state = update(g, state)          g: gradient at the current point P
    P_next, state    = after_step(x, P, state)   x = prox(P - lr * direction, lr)
    x_reported       = position(P, state)

The engine does ``x = prox(P - lr * d, lr / metric(state))`` in one line; ``after_step`` is
the identity except for Nesterov's extrapolation.  ``metric`` is the scaling D that turns the
direction back into a gradient at a fixed point (d = g / D there): the prox must use the
same step, lr / D, or the iteration would settle on the optimum of a different penalty
weight.  It is 1 for gd and Nesterov, 1 - beta for heavy ball (v = g / (1 - beta) at rest),
and sqrt(v_hat) + eps for Adam (the proximal Adam of the literature).  Each rule reads like
its paper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["Optimizer", "gd", "momentum", "nesterov", "adam", "rmsprop", "adagrad",
           "OPTIMIZERS"]


class Optimizer(NamedTuple):
    name: str
    init: Callable
    update: Callable
    after_step: Callable = lambda x, P, state: (x, state)
    position: Callable = lambda P, state: P
    metric: Callable = lambda state: 1.0


def gd() -> Optimizer:
    """Plain (proximal) gradient descent: d = g."""
    return Optimizer("gd", init=lambda P: (), update=lambda g, state: (g, state))


class MomentumState(NamedTuple):
    v: np.ndarray


def momentum(beta: float = 0.9) -> Optimizer:
    """Heavy ball (Polyak 1964):  v <- beta v + g;  d = v."""

    def update(g, state):
        v = beta * state.v + g
        return v, MomentumState(v)

    return Optimizer("momentum", lambda P: MomentumState(np.zeros_like(P)), update,
                     metric=lambda state: 1.0 - beta)


class NesterovState(NamedTuple):
    x: np.ndarray  # the last proximal-gradient point (what is reported)
    t: float


def nesterov(beta: float | None = None) -> Optimizer:
    """Nesterov's accelerated gradient; with a prox this is FISTA (Beck & Teboulle 2009).

    The gradient is taken at the extrapolated point P; after the step
        x_k = prox(P_k - lr g(P_k)),
        P_{k+1} = x_k + beta_k (x_k - x_{k-1}).
    beta=None uses FISTA's sequence t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,
    beta_k = (t_k - 1)/t_{k+1}, with the gradient restart of O'Donoghue & Candes (2015):
    when (P_k - x_k) . (x_k - x_{k-1}) > 0 the momentum is reset.  A number gives a constant
    beta (for noisy mini-batch gradients, where the growing FISTA momentum is unstable).
    """

    def after_step(x, P, state):
        if beta is not None:
            return x + beta * (x - state.x), NesterovState(x, state.t)
        if float(((P - x) * (x - state.x)).sum()) > 0.0:  # adaptive restart
            return x, NesterovState(x, 1.0)
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * state.t * state.t))
        return x + ((state.t - 1.0) / t_next) * (x - state.x), NesterovState(x, t_next)

    return Optimizer(
        "nesterov",
        init=lambda P: NesterovState(P.copy(), 1.0),
        update=lambda g, state: (g, state),
        after_step=after_step,
        position=lambda P, state: state.x,
    )


class AdamState(NamedTuple):
    m: np.ndarray
    v: np.ndarray
    t: int


def adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam (Kingma & Ba 2015):
        m <- b1 m + (1-b1) g;   v <- b2 v + (1-b2) g^2;
        d = m_hat / (sqrt(v_hat) + eps),  m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).
    """

    def update(g, state):
        t = state.t + 1
        m = b1 * state.m + (1.0 - b1) * g
        v = b2 * state.v + (1.0 - b2) * g * g
        d = (m / (1.0 - b1**t)) / (np.sqrt(v / (1.0 - b2**t)) + eps)
        return d, AdamState(m, v, t)

    def metric(state):
        return np.sqrt(state.v / (1.0 - b2 ** max(state.t, 1))) + eps

    return Optimizer("adam", lambda P: AdamState(np.zeros_like(P), np.zeros_like(P), 0), update,
                     metric=metric)


class RMSPropState(NamedTuple):
    v: np.ndarray


def rmsprop(rho: float = 0.9, eps: float = 1e-8) -> Optimizer:
    """RMSProp (Tieleman & Hinton 2012):
        v <- rho v + (1-rho) g^2;   d = g / (sqrt(v) + eps).
    """

    def update(g, state):
        v = rho * state.v + (1.0 - rho) * g * g
        return g / (np.sqrt(v) + eps), RMSPropState(v)

    return Optimizer("rmsprop", lambda P: RMSPropState(np.zeros_like(P)), update,
                     metric=lambda state: np.sqrt(state.v) + eps)


class AdaGradState(NamedTuple):
    G: np.ndarray


def adagrad(eps: float = 1e-8) -> Optimizer:
    """AdaGrad (Duchi, Hazan & Singer 2011):
        G <- G + g^2;   d = g / (sqrt(G) + eps).
    """

    def update(g, state):
        G = state.G + g * g
        return g / (np.sqrt(G) + eps), AdaGradState(G)

    return Optimizer("adagrad", lambda P: AdaGradState(np.zeros_like(P)), update,
                     metric=lambda state: np.sqrt(state.G) + eps)


OPTIMIZERS = {"gd": gd, "momentum": momentum, "nesterov": nesterov, "adam": adam,
              "rmsprop": rmsprop, "adagrad": adagrad}
