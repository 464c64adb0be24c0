"""Learning-rate schedules: functions of the step t (in epochs, fractional within an epoch)
returning the rate.  A float is a constant schedule.

constant          lr(t) = lr0
inverse_scaling   lr(t) = lr0 / (1 + t)^power        (power 0.5 by default)
step              lr(t) = lr0 * drop^floor(t / every)  (halve every tenth of max_iter)
cosine            lr(t) = lr0 * (1 + cos(pi min(t, T) / T)) / 2,  T = max_iter

"auto" picks constant for full-batch solvers and inverse_scaling for mini-batches, whose
noisy gradients need a decaying step to converge (sum lr = inf, sum lr^2 < inf needs
power in (1/2, 1]; 0.51 is used).
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["make_schedule", "SCHEDULES"]

SCHEDULES = ("auto", "constant", "inverse_scaling", "step", "cosine")


def constant(lr0: float, **_) -> Callable[[float], float]:
    return lambda t: lr0


def inverse_scaling(lr0: float, power: float = 0.51, **_) -> Callable[[float], float]:
    return lambda t: lr0 / (1.0 + t) ** power


def step(lr0: float, max_iter: int = 100, drop: float = 0.5, **_) -> Callable[[float], float]:
    every = max(1, max_iter // 10)
    return lambda t: lr0 * drop ** math.floor(t / every)


def cosine(lr0: float, max_iter: int = 100, **_) -> Callable[[float], float]:
    T = max(1, max_iter)
    return lambda t: lr0 * 0.5 * (1.0 + math.cos(math.pi * min(t, T) / T))


_BUILDERS = {"constant": constant, "inverse_scaling": inverse_scaling, "step": step,
             "cosine": cosine}


def make_schedule(name, lr0: float, *, max_iter: int, minibatch: bool):
    """The schedule ``name`` (or a callable t -> lr, or a float) started at ``lr0``."""
    if callable(name):
        return name
    if isinstance(name, (int, float)):
        return constant(float(name))
    if name == "auto":
        name = "inverse_scaling" if minibatch else "constant"
    if name not in _BUILDERS:
        raise ValueError(f"schedule={name!r} is not known; use one of {SCHEDULES}")
    return _BUILDERS[name](lr0, max_iter=max_iter)
