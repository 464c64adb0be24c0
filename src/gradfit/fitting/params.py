"""The fitting parameters: one validated record for every source (arrays, files, Dask) and
every face (estimator, CLI), and the rules that turn "auto" values into numbers.

Names and defaults are GDRegressor's (scikit-learn's words).  The solver table
(``gradfit.solvers.registry``) says which combinations work; the messages say what to use
instead.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

import numpy as np

from gradfit.data.validation import check_param
from gradfit.model.losses import LOSSES, Loss, register_loss
from gradfit.model.penalties import make_penalty, penalty_parts
from gradfit.solvers import registry
from gradfit.solvers.schedules import SCHEDULES

__all__ = ["FitParams", "check_params", "make_rng", "resolve_tol", "scaling_kind",
           "STANDARDIZE_CHOICES", "TOL_GRADIENT", "TOL_OBJECTIVE", "TARGET_REL_ERROR",
           "WHITEN_MAX_D", "GRAM_MAX_D"]

STANDARDIZE_CHOICES = ("auto", True, False, "whiten")
TOL_GRADIENT = 1e-12
"""tol="auto", full batch without known curvature: relative gradient-mapping norm."""
TOL_OBJECTIVE = 1e-4
"""tol="auto", mini-batches and early stopping: relative objective improvement per epoch."""
TARGET_REL_ERROR = 1e-10
"""tol="auto", full batch with known curvature: the certified relative distance to the
optimum (about 10 significant digits in standardized units) a fit must reach to converge."""
GRAM_MAX_D = 256
"""Up to this many features a fit starts with one pass of Gram statistics: column moments,
the exact Lipschitz constant, the whitening preconditioner and the optimality certificate come
from it (the d x d matrix costs about d / 32 gradient passes of arithmetic)."""
WHITEN_MAX_D = GRAM_MAX_D


@dataclass
class FitParams:
    """Every fitting parameter, with the estimator's names and defaults."""

    solver: str = "nesterov"
    learning_rate: float | str = "auto"
    schedule: str = "auto"
    batch_size: int | None = None
    momentum: float = 0.9
    max_iter: int = 1000
    tol: float | str = "auto"
    loss: str = "squared"
    epsilon: float = 1.35
    penalty: str | None = None
    alpha: float = 0.0
    l1_ratio: float = 0.15
    fit_intercept: bool = True
    standardize: bool | str = "auto"
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int = 5
    average: bool | None = None
    random_state: object = None

    @property
    def spec(self) -> registry.SolverSpec:
        return registry.resolve(self.solver)

    def validate(self) -> FitParams:
        """Check every value; a loss object is registered (by name), a solver may be a
        name, a SolverSpec or an Optimizer (a first-order update rule), a penalty a name or
        an object following ``gradfit.model.penalties.Penalty``."""
        if isinstance(self.loss, Loss):
            self.loss = register_loss(self.loss).name
        if isinstance(self.solver, str):
            check_param("solver", self.solver, choices=registry.names())
        else:
            registry.resolve(self.solver)
        self._check_values()
        self._check_combinations(make_penalty(self.penalty, self.alpha, self.l1_ratio))
        return self

    def _check_values(self) -> None:
        """Each parameter on its own: a ValueError naming it."""
        if isinstance(self.learning_rate, str):
            check_param("learning_rate", self.learning_rate, choices=("auto", "backtracking"))
        else:
            check_param("learning_rate", self.learning_rate, positive=True)
        if not callable(self.schedule):
            check_param("schedule", self.schedule, choices=SCHEDULES)
        check_param("batch_size", self.batch_size, positive=True, integer=True, allow_none=True)
        check_param("momentum", self.momentum, nonneg=True)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        check_param("max_iter", self.max_iter, positive=True, integer=True)
        if self.tol != "auto":
            check_param("tol", self.tol, nonneg=True)
        check_param("loss", self.loss, choices=tuple(LOSSES))
        check_param("epsilon", self.epsilon, positive=True)
        check_param("validation_fraction", self.validation_fraction, unit=True)
        check_param("n_iter_no_change", self.n_iter_no_change, positive=True, integer=True)
        if self.average is not None and not isinstance(self.average, (bool, np.bool_)):
            raise ValueError(f"average must be None, True or False, got {self.average!r}")
        for flag in ("fit_intercept", "early_stopping"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        s = self.standardize
        if not (isinstance(s, (bool, np.bool_)) or (isinstance(s, str) and s in ("auto",
                                                                                 "whiten"))):
            raise ValueError(f"standardize must be 'auto', True, False or 'whiten', got {s!r}")

    def _check_combinations(self, pen) -> None:
        """What the solver, the penalty, the loss and the rate cannot do together, with what
        to use instead."""
        spec = self.spec
        if spec.smooth_only and not pen.is_smooth:
            raise ValueError(f"penalty={self.penalty!r} is not smooth, which solver="
                             f"{spec.name!r} ({spec.summary}) cannot handle; use "
                             "solver='nesterov' (FISTA) or 'gd' (proximal gradient) for l1 and "
                             "elasticnet")
        if spec.kind in ("cg", "closed_form", "working_set") and penalty_parts(pen) is None:
            builtin = "None or 'l2'" if spec.smooth_only else "None, 'l2', 'l1' or 'elasticnet'"
            raise ValueError(f"solver={spec.name!r} needs a built-in penalty ({builtin}); a "
                             "penalty object works with the first-order solvers and lbfgs")
        if spec.kind == "working_set" and (self.batch_size is not None or self.early_stopping):
            raise ValueError(f"solver={spec.name!r} ({spec.summary}) works on full batches: "
                             "use batch_size=None and early_stopping=False, or solver="
                             "'nesterov' for mini-batches")
        if spec.squared_only and self.loss != "squared":
            raise ValueError(f"solver={spec.name!r} needs the squared loss; for "
                             f"loss={self.loss!r} use 'lbfgs', 'nesterov' or 'gd'")
        if self.learning_rate == "backtracking" and self.batch_size is not None:
            raise ValueError("learning_rate='backtracking' needs full batches (batch_size=None): "
                             "a line search on a noisy mini-batch objective is not sound; use "
                             "learning_rate='auto'")
        if isinstance(self.standardize, str) and self.standardize == "whiten":
            if not pen.is_smooth:
                raise ValueError("standardize='whiten' needs a smooth penalty (None or 'l2'): "
                                 "the L1 prox is not separable in whitened coordinates; use "
                                 "standardize=True")
            if self.batch_size is not None:
                raise ValueError("standardize='whiten' needs full batches (batch_size=None); "
                                 "use standardize=True for mini-batches")

    @property
    def penalty_record(self):
        return make_penalty(self.penalty, self.alpha, self.l1_ratio)


def check_params(params: dict) -> FitParams:
    """FitParams from keyword arguments: unknown names are a TypeError, bad values a
    ValueError naming the parameter."""
    unknown = set(params) - {f.name for f in fields(FitParams)}
    if unknown:
        raise TypeError(f"unknown parameter(s) {sorted(unknown)}; see help(gradfit.GDRegressor)")
    return FitParams(**params).validate()


def _random_state(seed) -> np.random.RandomState:
    """scikit-learn's ``check_random_state``, without importing scikit-learn."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {seed!r}")


def make_rng(p: FitParams) -> np.random.Generator:
    """The fit's generator: seeded from random_state (None: fresh entropy)."""
    return np.random.default_rng(_random_state(p.random_state).randint(2**31 - 1))


def is_minibatch(p: FitParams, n: int) -> bool:
    return p.batch_size is not None and p.batch_size < n


def resolve_tol(tol, noisy: bool) -> float:
    """tol="auto": 1e-12 on the relative gradient norm for full-batch solvers (where no
    curvature certifies the distance instead), 1e-4 on the relative objective improvement per
    epoch when the objective is noisy (mini-batches) or measured on held-out rows."""
    if tol != "auto":
        return float(tol)
    return TOL_OBJECTIVE if noisy else TOL_GRADIENT


def scaling_kind(p: FitParams, n: int, d: int) -> str:
    """The solver's coordinates for these parameters and data: "none", "diagonal" or
    "whiten" (``gradfit.model.scaling``).

    standardize="auto" (the default): a numeric learning_rate runs in the caller's units
    (the rate means what the tutorial means: no silent rescaling); otherwise full-batch fits
    with a smooth penalty and at most :data:`WHITEN_MAX_D` features are whitened (the
    Gram matrix preconditions the descent: condition number 1), all others standardized.
    True: standardized; False: the caller's units; "whiten": whitened."""
    s = p.standardize
    if s is True or (isinstance(s, np.bool_) and bool(s)):
        return "diagonal"
    if s is False or (isinstance(s, np.bool_) and not bool(s)):
        return "none"
    if s == "whiten":
        return "whiten"
    if not isinstance(p.learning_rate, str):
        return "none"
    if p.spec.kind == "closed_form":
        return "none"
    if p.spec.kind == "working_set":  # coordinate descent's iterates do not depend on them
        return "diagonal"
    parts = penalty_parts(p.penalty_record)
    if (not is_minibatch(p, n) and parts is not None and not parts[0] and d <= WHITEN_MAX_D
            and not p.early_stopping):
        return "whiten"
    return "diagonal"
