"""``gradfit.fit``: the functional entry point.  It turns parameters into objects (loss,
penalty, optimizer, schedule, source), runs the chosen solver and returns a FitResult with
coefficients in original units.  The estimator is a thin shell over it."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import numpy as np
from sklearn.utils import check_random_state

from gradfit.data.memory import InMemory, RowSubset
from gradfit.data.validation import as_float_array, check_finite, check_param, check_sample_weight
from gradfit.exceptions import ConvergenceWarning, InputError
from gradfit.model.losses import LOSSES
from gradfit.model.objective import Objective
from gradfit.model.penalties import make_penalty
from gradfit.model.result import FitResult, History
from gradfit.solvers import optimizers
from gradfit.solvers.engine import LoopConfig, train
from gradfit.solvers.schedules import SCHEDULES, make_schedule
from gradfit.solvers.second_order import conjugate_gradient, lbfgs
from gradfit.solvers.sources import BatchSource

__all__ = ["FitParams", "fit", "SOLVERS"]

SOLVERS = ("gd", "momentum", "nesterov", "adam", "lbfgs", "cg", "exact")
FIRST_ORDER = ("gd", "momentum", "nesterov", "adam")


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
    standardize: bool = True
    early_stopping: bool = False
    validation_fraction: float = 0.1
    n_iter_no_change: int = 5
    average: bool | None = None
    random_state: object = None

    def validate(self) -> FitParams:
        check_param("solver", self.solver, choices=SOLVERS)
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
        for flag in ("fit_intercept", "standardize", "early_stopping"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        pen = make_penalty(self.penalty, self.alpha, self.l1_ratio)
        smooth_only = {"lbfgs": "L-BFGS", "cg": "conjugate gradients", "exact": "the exact solver"}
        if self.solver in smooth_only and not pen.is_smooth:
            raise ValueError(f"penalty={self.penalty!r} is not smooth, which "
                             f"{smooth_only[self.solver]} cannot handle; use solver='nesterov' "
                             "(FISTA) or 'gd' (proximal gradient) for l1 and elasticnet")
        if self.solver in ("cg", "exact") and self.loss != "squared":
            raise ValueError(f"solver={self.solver!r} needs the squared loss; for "
                             f"loss={self.loss!r} use 'lbfgs', 'nesterov' or 'gd'")
        if self.learning_rate == "backtracking" and self.batch_size is not None:
            raise ValueError("learning_rate='backtracking' needs full batches (batch_size=None): "
                             "a line search on a noisy mini-batch objective is not sound; use "
                             "learning_rate='auto'")
        return self


def _as_2d_target(y, n):
    y = np.asarray(y)
    if y.dtype.kind not in "fiub":
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            raise InputError("y must be numeric") from None
    y = np.asarray(y, dtype=np.longdouble if y.dtype == np.longdouble else float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise InputError(f"y must have {n} rows to match X (shape {y.shape} given)")
    if y.shape[1] == 0:
        raise InputError("y has no columns")
    return y


def prepare_data(X, y, sample_weight, feature_names=None):
    """Validated (X float array, y (n, k), sw or None, single_output)."""
    X = as_float_array(X, "X")
    if X.ndim != 2:
        raise InputError(f"X must be 2-dimensional (n_samples, n_features); got shape {X.shape}. "
                         "Reshape a single feature with X.reshape(-1, 1)")
    n, d = X.shape
    if n == 0:
        raise InputError("X has 0 rows: there is nothing to fit")
    if d == 0:
        raise InputError("X has 0 feature columns")
    single = np.ndim(y) == 1
    y2 = _as_2d_target(y, n)
    check_finite(X, "X", feature_names)
    check_finite(y2, "y")
    sw = check_sample_weight(sample_weight, n)
    return X, y2, sw, single


def _initial_point(obj: Objective, y, sw, coef_init, intercept_init, standardize):
    if coef_init is not None or intercept_init is not None:
        coef = np.zeros((obj.d, obj.k)) if coef_init is None else coef_init
        icpt = np.zeros(obj.k) if intercept_init is None else intercept_init
        coef = np.asarray(coef, float)
        if coef.size != obj.d * obj.k:
            raise InputError(f"coef_init has {coef.size} values; expected {obj.d * obj.k}")
        return obj.from_original(coef.reshape(obj.k, obj.d).T if coef.ndim == 2 and
                                 coef.shape == (obj.k, obj.d) and obj.k > 1 else coef, icpt)
    P0 = obj.zeros()
    if standardize and obj.fit_intercept:  # the optimal intercept of the centred model at w = 0
        P0[obj.d] = np.average(y, axis=0, weights=sw)
    return P0


def target_spread(data) -> float:
    """The largest weighted standard deviation of the targets, in two passes over a backend
    (Adam's "auto" rate is a fraction of it)."""
    (tot,) = data.map_reduce(lambda X, Y, s: (Y.sum(axis=0) if s is None else s @ Y,))
    ybar = tot / data.S
    (ss,) = data.map_reduce(
        lambda X, Y, s: (((Y - ybar) ** 2).sum(axis=0) if s is None else s @ (Y - ybar) ** 2,))
    return float(np.sqrt(ss / data.S).max())


def resolve_rate(p: FitParams, obj: Objective):
    """(base rate, schedule) for the first-order solvers.

    "auto": 1/L on full batches; 1/L(B) (the expected smoothness of a batch of B rows) on
    mini-batches, times (1 - beta) with momentum, which multiplies step and noise by
    1/(1 - beta); Adam, whose steps are about lr per coordinate whatever the gradient's
    scale, 0.05 x the targets' standard deviation.  "backtracking" starts at 1."""
    minibatch = p.batch_size is not None and p.batch_size < obj.n
    if p.learning_rate == "backtracking":
        lr0 = 1.0
    elif p.learning_rate == "auto":
        if p.solver == "adam":
            lr0 = 0.05 * max(target_spread(obj.data), 1e-12)
        elif minibatch:
            lr0 = 1.0 / obj.batch_lipschitz(p.batch_size)
            if p.solver in ("momentum", "nesterov"):
                lr0 *= 1.0 - p.momentum
        else:
            lr0 = 1.0 / obj.lipschitz()
    else:
        lr0 = float(p.learning_rate)
    return lr0, make_schedule(p.schedule, lr0, max_iter=p.max_iter, minibatch=minibatch)


def _make_optimizer(p: FitParams, minibatch: bool):
    if p.solver == "momentum":
        return optimizers.momentum(p.momentum)
    if p.solver == "nesterov":
        return optimizers.nesterov(p.momentum if minibatch else None)
    return optimizers.OPTIMIZERS[p.solver]()


def _split_validation(X, y, sw, fraction, rng):
    """(training rows, validation rows) as two RowSubset views of the same arrays: a random
    ``fraction`` of the rows (at least one) is held out; nothing is copied."""
    n = X.shape[0]
    n_val = max(1, math.ceil(fraction * n))
    if n - n_val < 1:
        raise InputError(f"early_stopping needs at least 2 rows; got {n}")
    held_out = np.zeros(n, dtype=bool)
    held_out[rng.permutation(n)[:n_val]] = True
    return RowSubset(X, y, sw, ~held_out), RowSubset(X, y, sw, held_out)


TOL_GRADIENT = 1e-12  # full batch: relative (proximal) gradient norm, cg/lbfgs likewise
TOL_OBJECTIVE = 1e-4  # mini-batch and early stopping: relative objective improvement


def resolve_tol(tol, noisy: bool) -> float:
    """tol="auto": 1e-12 on the relative gradient norm for full-batch solvers (about 6-9
    correct digits on NIST's harder sets), 1e-4 on the relative objective improvement per
    epoch when the objective is noisy (mini-batches) or measured on held-out rows."""
    if tol != "auto":
        return float(tol)
    return TOL_OBJECTIVE if noisy else TOL_GRADIENT


def _exact_result(p: FitParams, X, y, sw, single) -> FitResult:
    from gradfit.solvers.exact import solve_exact

    pen = make_penalty(p.penalty, p.alpha, p.l1_ratio)
    coef, icpt, info = solve_exact(X, y, sample_weight=sw, fit_intercept=p.fit_intercept,
                                   alpha=pen.l2)
    coef = np.asarray(coef, float).reshape(X.shape[1], y.shape[1])
    icpt = np.asarray(icpt, float).reshape(y.shape[1])
    obj = Objective(InMemory(X, y, sw), loss="squared", epsilon=1.0, penalty=pen,
                    fit_intercept=p.fit_intercept, standardize=False)
    f = obj.value(obj.from_original(coef, icpt))
    hist = History(4)
    hist.append(0, f, 0.0, np.nan, 0.0, coef, icpt)
    return FitResult(coef, icpt, 1, True, "closed-form least-squares solution", f, hist,
                     solver="exact", info=dict(info))


def check_params(params: dict) -> FitParams:
    """FitParams from keyword arguments: unknown names are a TypeError, bad values a
    ValueError naming the parameter."""
    unknown = set(params) - {f.name for f in fields(FitParams)}
    if unknown:
        raise TypeError(f"unknown parameter(s) {sorted(unknown)}; see help(gradfit.GDRegressor)")
    return FitParams(**params).validate()


def make_rng(p: FitParams) -> np.random.Generator:
    """The fit's generator: seeded from random_state (None: fresh entropy)."""
    return np.random.default_rng(check_random_state(p.random_state).randint(2**31 - 1))


def run_solver(obj: Objective, P0, p: FitParams, *, rng, callback=None, validation=None,
               rate=None, on_epoch_end=None, resume_state=None, epoch_runner=None):
    """Run the iterative solver ``p.solver`` on ``obj`` from P0: (LoopOutcome, base rate).

    Every backend comes through here: in memory, files, Dask.  ``rate`` is a given
    (lr0, schedule) (a resumed fit), else it is resolved from the data.  ``epoch_runner``
    replaces the loop's mini-batch epoch (Dask's local SGD); by default the compiled epoch
    is used where it applies."""
    minibatch = p.batch_size is not None and p.batch_size < obj.n
    tol = resolve_tol(p.tol, minibatch or validation is not None)
    with np.errstate(all="ignore"):
        if p.solver == "lbfgs":
            return lbfgs(obj, P0, max_iter=p.max_iter, tol=tol, callback=callback), None
        if p.solver == "cg":
            return conjugate_gradient(obj, P0, max_iter=p.max_iter, tol=tol,
                                      callback=callback), None
        lr0, schedule = rate if rate is not None else resolve_rate(p, obj)
        optimizer = _make_optimizer(p, minibatch)
        if callable(resume_state):  # a checkpoint's state, bound to the optimizer's types
            resume_state = resume_state(optimizer)
        cfg = LoopConfig(optimizer=optimizer, schedule=schedule,
                         max_iter=p.max_iter, tol=tol, n_iter_no_change=p.n_iter_no_change,
                         average=minibatch if p.average is None else p.average,
                         backtracking=p.learning_rate == "backtracking",
                         validation=validation, callback=callback, on_epoch_end=on_epoch_end,
                         resume_state=resume_state,
                         compiled_epoch=epoch_runner or _compiled_epoch(p, obj, minibatch,
                                                                        schedule))
        return train(obj, BatchSource(obj.data, p.batch_size), P0, cfg, rng), lr0


def make_result(obj: Objective, out, p: FitParams, lr0, info=None) -> FitResult:
    """The FitResult of a loop's outcome, in original units; warns when not converged."""
    coef, icpt = obj.to_original(out.P)
    res = FitResult(coef, icpt, out.n_iter, out.converged, out.stop_reason, out.objective,
                    out.history, solver=p.solver, learning_rate=lr0, lipschitz=obj._lipschitz,
                    info=dict(out.info, standardized=p.standardize, **(info or {})))
    if not out.converged and not out.stop_reason.startswith("stopped by the callback"):
        warnings.warn(
            f"{p.solver} did not converge: {out.stop_reason}. Increase max_iter, loosen tol, "
            "or use a faster solver (solver='lbfgs', 'nesterov' or 'exact')",
            ConvergenceWarning, stacklevel=3)
    return res


def fit(X, y, sample_weight=None, *, callback=None, coef_init=None, intercept_init=None,
        feature_names=None, **params) -> FitResult:
    """Fit y = X w + b and return a :class:`FitResult` (no estimator needed).

    Parameters are those of :class:`gradfit.GDRegressor` (``solver``, ``learning_rate``, ...).
    ``callback(info)`` is called once per epoch with a dict (epoch, max_iter, objective,
    grad_norm, lr, elapsed); returning False stops the fit.  ``coef_init`` and
    ``intercept_init`` give the starting point in original units (default: zero
    coefficients, and with standardize=True the mean of y as the intercept).
    """
    p = check_params(params)
    X, y, sw, single = prepare_data(X, y, sample_weight, feature_names)
    if p.solver == "exact":  # it uses long double input to the full (NIST's Filip needs it)
        return _finish(_exact_result(p, X, y, sw, single), single)
    if X.dtype == np.longdouble:
        X = X.astype(np.float64)

    rng = make_rng(p)
    data, validation = InMemory(X, y, sw), None
    if p.early_stopping:
        data, validation = _split_validation(X, y, sw, p.validation_fraction, rng)
    pen = make_penalty(p.penalty, p.alpha, p.l1_ratio)
    obj = Objective(data, loss=p.loss, epsilon=p.epsilon, penalty=pen,
                    fit_intercept=p.fit_intercept, standardize=p.standardize,
                    kernel=_kernel_for(X))
    if validation is not None:  # the training rows' mean of y (a copy of y's rows only)
        y, sw = y[data.mask], None if sw is None else sw[data.mask]
    P0 = _initial_point(obj, y, sw, coef_init, intercept_init, p.standardize)
    out, lr0 = run_solver(obj, P0, p, rng=rng, callback=callback, validation=validation)
    return _finish(make_result(obj, out, p, lr0), single)


NUMBA_MIN_CELLS = 2_000_000  # below this the numpy kernel is as fast and needs no compiling


def _kernel_for(X):
    """The kernel for in-memory ``X``: see :func:`kernel_for`."""
    return kernel_for(X.size, X.dtype)


def kernel_for(cells: int, dtype=np.float64):
    """The compiled kernel (``kernels_numba``, equal to the numpy one to 1e-12) for data of
    at least :data:`NUMBA_MIN_CELLS` values (n * d) when numba is installed, else None: the
    pure-numpy kernel.  The choice depends only on the data's size and type, so the same
    data always takes the same path (bit-identical refits), in memory or from files."""
    if cells < NUMBA_MIN_CELLS or np.dtype(dtype) == np.longdouble:
        return None
    try:
        from gradfit.model import kernels_numba
    except ImportError:
        return None
    return kernels_numba.value_grad if kernels_numba.available() else None


def _compiled_epoch(p: FitParams, obj: Objective, minibatch: bool, schedule):
    """The compiled mini-batch epoch (``gradfit.solvers.minibatch_numba``) where it gives the Python
    loop's numbers bit for bit (in-memory data, the compiled kernel, small batches), else
    None: the loop runs its Python epoch."""
    if not minibatch:
        return None
    try:
        from gradfit.solvers import minibatch_numba
    except ImportError:
        return None
    return minibatch_numba.epoch_runner(obj, p.batch_size, p.solver, p.momentum, schedule)


def _finish(res: FitResult, single: bool) -> FitResult:
    if single:
        res.coef = np.asarray(res.coef).reshape(-1)
        res.intercept = float(np.asarray(res.intercept).reshape(-1)[0])
        res.history.squeeze_output()
    return res
