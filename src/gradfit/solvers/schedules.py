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
from dataclasses import dataclass

__all__ = ["Schedule", "make_schedule", "SCHEDULES"]

SCHEDULES = ("auto", "constant", "inverse_scaling", "step", "cosine")
KINDS = ("constant", "inverse_scaling", "step", "cosine")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule as a parameter record: ``kind`` and its numbers, callable as
    ``schedule(t)``.  The compiled mini-batch epoch reads the record (``code``, ``lr0``,
    ``a``, ``b``) to compute the same rates bit for bit.

    Attributes
    ----------
    kind : {"constant", "inverse_scaling", "step", "cosine"}
    lr0 : float
        The base rate.
    a : float
        inverse_scaling: the power; step: epochs per drop; cosine: the horizon T.
    b : float
        step: the drop factor.
    """

    kind: str
    lr0: float
    a: float = 0.0
    b: float = 0.0

    @property
    def code(self) -> int:
        return KINDS.index(self.kind)

    def __call__(self, t: float) -> float:
        if self.kind == "constant":
            return self.lr0
        if self.kind == "inverse_scaling":
            return self.lr0 / (1.0 + t) ** self.a
        if self.kind == "step":
            return self.lr0 * self.b ** math.floor(t / self.a)
        T = self.a
        return self.lr0 * 0.5 * (1.0 + math.cos(math.pi * min(t, T) / T))


def constant(lr0: float, **_) -> Schedule:
    return Schedule("constant", float(lr0))


def inverse_scaling(lr0: float, power: float = 0.51, **_) -> Schedule:
    return Schedule("inverse_scaling", float(lr0), float(power))


def step(lr0: float, max_iter: int = 100, drop: float = 0.5, **_) -> Schedule:
    return Schedule("step", float(lr0), float(max(1, max_iter // 10)), float(drop))


def cosine(lr0: float, max_iter: int = 100, **_) -> Schedule:
    return Schedule("cosine", float(lr0), float(max(1, max_iter)))


_BUILDERS = {"constant": constant, "inverse_scaling": inverse_scaling, "step": step,
             "cosine": cosine}


def make_schedule(name, lr0: float, *, max_iter: int, minibatch: bool) -> Callable:
    """The schedule ``name`` (or a Schedule record, a callable t -> lr, or a float) started at
    ``lr0``."""
    if callable(name):
        return name
    if isinstance(name, (int, float)):
        return constant(float(name))
    if name == "auto":
        name = "inverse_scaling" if minibatch else "constant"
    if name not in _BUILDERS:
        raise ValueError(f"schedule={name!r} is not known; use one of {SCHEDULES}")
    return _BUILDERS[name](lr0, max_iter=max_iter)
