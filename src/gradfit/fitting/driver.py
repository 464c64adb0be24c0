"""The one fit driver: every source (arrays, files, Dask) and every iterative solver goes
through :func:`fit_backend`.

    backend -> Gram statistics (small d) -> objective in the chosen coordinates
            -> starting point -> rate -> solver (loop, L-BFGS or CG) -> certificate
            -> FitResult in original units

The adapters (``gradfit.fit`` for arrays, ``fit_files``, ``fit_dask``) only build the backend
and the :class:`Hooks` that differ between them (a checkpoint, a resumed state, Dask's local
SGD epoch, held-out rows); the maths is written once, here and below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradfit.exceptions import InputError, warn_user
from gradfit.fitting.params import (
    GRAM_MAX_D,
    TARGET_REL_ERROR,
    FitParams,
    is_minibatch,
    make_rng,
    resolve_tol,
    scaling_kind,
)
from gradfit.fitting.working_sets import run_working_sets, uses_working_sets
from gradfit.model.backend import capabilities
from gradfit.model.gram import gram_pass
from gradfit.model.objective import Objective
from gradfit.model.result import FitResult
from gradfit.solvers import stopping
from gradfit.solvers.certificate import Certifier
from gradfit.solvers.engine import LoopConfig, train
from gradfit.solvers.schedules import make_schedule
from gradfit.solvers.second_order import conjugate_gradient, lbfgs
from gradfit.solvers.sources import BatchSource

__all__ = ["Hooks", "fit_backend", "build_objective", "initial_point", "resolve_rate",
           "make_optimizer", "squeeze_single", "make_result", "kernel_for", "NUMBA_MIN_CELLS"]


@dataclass
class Hooks:
    """What an adapter adds to the one driver.

    Attributes
    ----------
    callback : callable or None
        ``callback(info) -> False`` stops the fit (see ``gradfit.fit``).
    validation : backend or None
        Held-out rows for early stopping.
    objective : dict
        Extra keywords for :class:`Objective` (``scaling``, ``lipschitz`` of a resumed fit;
        ``kernel``).
    rate : (lr0, schedule) or None
        The base rate, given (a resumed fit); else resolved from the data.
    resume : callable or None
        ``resume(optimizer) -> LoopState``: a saved state to continue from.
    on_epoch_end : callable or None
        ``on_epoch_end(obj, rate) -> hook or None``: builds the loop's per-epoch hook (a
        checkpointer) once the objective and the rate are known.
    epoch_runner : callable or None
        ``epoch_runner(obj, p, schedule) -> run or None``: replaces the loop's mini-batch
        epoch (Dask's local SGD); by default the compiled epoch where it applies.
    info : dict
        Added to the result's ``info``.
    y_mean : ndarray or None
        The targets' weighted means, when the adapter knows them (the starting intercept).
    """

    callback: object = None
    validation: object = None
    objective: dict = field(default_factory=dict)
    rate: tuple | None = None
    resume: object = None
    on_epoch_end: object = None
    epoch_runner: object = None
    info: dict = field(default_factory=dict)
    y_mean: np.ndarray | None = None


NUMBA_MIN_CELLS = 2_000_000
"""From this many values (n * d) on, the compiled pass kernel is used (below it the numpy
kernel is as fast and needs no compiling)."""


def kernel_for(cells: int, dtype=np.float64, loss: str = "squared", sparse: bool = False):
    """The compiled pass kernel (``gradfit.model.kernels_numba``, equal to the numpy one to
    1e-12) for data of at least :data:`NUMBA_MIN_CELLS` values (n * d) of a type and loss it
    supports, else None: the pure-numpy kernel, which serves every registered loss.  The
    choice depends only on the data's size and type and the loss, so the same data always
    takes the same path (bit-identical refits), in memory or from files.  ``sparse``: CSR
    rows, the compiled CSR kernel (``gradfit.model.kernels_sparse``) wherever it supports
    the loss and type (it runs on one thread: no size threshold), else None (the numpy
    kernel hands CSR rows to scipy's products)."""
    if sparse:
        from gradfit.model import kernels_sparse

        return kernels_sparse.value_grad if kernels_sparse.supports(loss, dtype) else None
    if cells < NUMBA_MIN_CELLS or np.dtype(dtype) == np.longdouble:
        return None
    try:
        from gradfit.model import kernels_numba
    except ImportError:
        return None
    if not kernels_numba.available():
        return None
    supports = getattr(kernels_numba, "supports", None)
    if supports is not None:
        ok = supports(loss, dtype)
    else:
        ok = loss in ("squared", "huber")
    return kernels_numba.value_grad if ok else None


def make_optimizer(p: FitParams, minibatch: bool):
    """The update rule of a first-order solver (from the registry)."""
    return p.spec.make_optimizer(p, minibatch)


def build_objective(p: FitParams, data, *, gram=None, **kwargs) -> Objective:
    """The objective on ``data`` in the coordinates :func:`scaling_kind` picks; with at most
    :data:`GRAM_MAX_D` features one pass of Gram statistics first (moments, the exact
    Lipschitz constant, whitening and the certificate come from it; ``gram=False`` skips
    it)."""
    kind = scaling_kind(p, data.n, data.d)
    if gram is None and data.d <= GRAM_MAX_D:
        gram = gram_pass(data)
    elif gram is False:  # not wanted (the coordinates are given and no certificate is asked)
        gram = None
    return Objective(data, loss=p.loss, epsilon=p.epsilon, penalty=p.penalty_record,
                     fit_intercept=p.fit_intercept, standardize=kind, gram=gram, **kwargs)


def target_mean(data, gram=None) -> np.ndarray:
    """The targets' weighted means: from the Gram statistics, the backend's first pass, or
    one pass."""
    if gram is not None:
        return np.asarray(gram.mean_y, float)
    if capabilities(data).target_mean:
        return np.asarray(data.target_mean, dtype=float)
    (total,) = data.map_reduce(lambda X, Y, s: (Y.sum(axis=0) if s is None else
                                                (Y * s[:, None]).sum(axis=0),))
    return total / data.S


def target_spread(data, gram=None) -> float:
    """The largest weighted standard deviation of the targets (Adam's "auto" rate is a
    fraction of it): from the Gram statistics, or two passes."""
    if gram is not None:
        return float(np.sqrt(np.maximum(np.diag(gram.yty), 0.0) / gram.weight).max())
    (tot,) = data.map_reduce(lambda X, Y, s: (Y.sum(axis=0) if s is None else s @ Y,))
    ybar = tot / data.S
    (ss,) = data.map_reduce(
        lambda X, Y, s: (((Y - ybar) ** 2).sum(axis=0) if s is None else s @ (Y - ybar) ** 2,))
    return float(np.sqrt(ss / data.S).max())


def initial_point(obj: Objective, y_mean, coef_init=None, intercept_init=None):
    """The starting point: the caller's (in original units), else zero coefficients and, in
    centred coordinates, the targets' mean as the intercept (the optimal one at w = 0)."""
    if coef_init is not None or intercept_init is not None:
        coef = np.zeros((obj.d, obj.k)) if coef_init is None else coef_init
        icpt = np.zeros(obj.k) if intercept_init is None else intercept_init
        coef = np.asarray(coef, float)
        if coef.size != obj.d * obj.k:
            raise InputError(f"coef_init has {coef.size} values; expected {obj.d * obj.k}")
        return obj.from_original(coef.reshape(obj.k, obj.d).T if coef.ndim == 2 and
                                 coef.shape == (obj.k, obj.d) and obj.k > 1 else coef, icpt)
    P0 = obj.zeros()
    if obj.scaling.kind != "none" and obj.fit_intercept:
        P0[obj.d] = np.asarray(y_mean, float).reshape(obj.k)
    return P0


def resolve_rate(p: FitParams, obj: Objective):
    """(base rate, schedule) for the first-order solvers.

    "auto" by the solver's rule (registry): "lipschitz", 1/L on full batches, 1/L(B) (the
    expected smoothness of a batch of B rows) on mini-batches, times (1 - beta) with momentum,
    which multiplies step and noise by 1/(1 - beta); "spread", for rules whose steps are about
    lr per coordinate whatever the gradient's scale (Adam), a share (0.05 for Adam) of the
    targets' standard deviation.  "backtracking" starts at 1."""
    minibatch = is_minibatch(p, obj.n)
    if p.learning_rate == "backtracking":
        lr0 = 1.0
    elif p.learning_rate == "auto":
        if p.spec.auto_rate == "spread":
            lr0 = p.spec.spread_share * max(target_spread(obj.data, obj.gram_stats), 1e-12)
        elif minibatch:
            lr0 = 1.0 / obj.batch_lipschitz(p.batch_size)
            if p.spec.name in ("momentum", "nesterov"):
                lr0 *= 1.0 - p.momentum
        else:
            lr0 = 1.0 / obj.lipschitz()
    else:
        lr0 = float(p.learning_rate)
    return lr0, schedule_for(p, lr0, minibatch)


def schedule_for(p: FitParams, lr0: float, minibatch: bool):
    """The schedule t -> rate from ``lr0``: ``p.schedule``, where "auto" means the solver's
    own choice (registry) or constant on full batches and decaying on mini-batches."""
    name = p.schedule
    if isinstance(name, str) and name == "auto" and p.spec.schedule != "auto":
        name = p.spec.schedule
    return make_schedule(name, lr0, max_iter=p.max_iter, minibatch=minibatch)


def stopping_rules(p: FitParams, obj: Objective, certifier, validation) -> list:
    """The loop's stopping rules for these parameters (``gradfit.solvers.stopping``)."""
    minibatch = is_minibatch(p, obj.n)
    tol = resolve_tol(p.tol, minibatch or validation is not None)
    if validation is not None:
        return [stopping.ValidationPlateau(validation, tol, p.n_iter_no_change)]
    if minibatch:
        return [stopping.ObjectivePlateau(tol, p.n_iter_no_change)]
    rules = []
    if p.tol == "auto" and certifier is not None and certifier.constant:
        rules.append(stopping.GradientTolerance(0.0))
        rules.append(stopping.CertifiedOptimum(certifier, TARGET_REL_ERROR, p.n_iter_no_change))
    else:
        rules.append(stopping.GradientTolerance(tol))
    rules.append(stopping.Stall(10 * p.n_iter_no_change))
    return rules


def _compiled_epoch(p: FitParams, obj: Objective, schedule):
    """The compiled mini-batch epoch where it gives the Python loop's numbers bit for bit
    (in-memory data, the compiled kernel, small batches, a rule it knows), else None."""
    if not is_minibatch(p, obj.n) or p.spec.compiled is None or not obj.scaling.is_diagonal:
        return None
    try:
        from gradfit.solvers import minibatch_numba
    except ImportError:
        return None
    return minibatch_numba.epoch_runner(obj, p.batch_size, p.spec.name, p.momentum, schedule)


def run_solver(obj: Objective, P0, p: FitParams, hooks: Hooks, rng):
    """Run the iterative solver ``p.solver`` on ``obj`` from P0: (LoopOutcome, base rate,
    certifier).  L1 / elastic net in memory go to working sets (``fitting.working_sets``)."""
    if uses_working_sets(p, obj.data, hooks):
        return run_working_sets(obj, P0, p, hooks)
    certifier = Certifier(obj)
    minibatch = is_minibatch(p, obj.n)
    tol = resolve_tol(p.tol, minibatch or hooks.validation is not None)
    with np.errstate(all="ignore"):
        if p.spec.kind == "lbfgs":
            out = lbfgs(obj, P0, max_iter=p.max_iter, tol=tol, callback=hooks.callback)
            return out, None, certifier
        if p.spec.kind == "cg":
            out = conjugate_gradient(obj, P0, max_iter=p.max_iter, tol=tol,
                                     callback=hooks.callback)
            return out, None, certifier
        rate = hooks.rate if hooks.rate is not None else resolve_rate(p, obj)
        optimizer = make_optimizer(p, minibatch)
        runner = hooks.epoch_runner(obj, p, rate[1]) if hooks.epoch_runner else None
        cfg = LoopConfig(optimizer=optimizer, schedule=rate[1], max_iter=p.max_iter,
                         rules=stopping_rules(p, obj, certifier, hooks.validation),
                         average=minibatch if p.average is None else p.average,
                         backtracking=p.learning_rate == "backtracking",
                         callback=hooks.callback,
                         on_epoch_end=hooks.on_epoch_end(obj, rate) if hooks.on_epoch_end
                         else None,
                         resume_state=hooks.resume(optimizer) if hooks.resume else None,
                         compiled_epoch=runner or _compiled_epoch(p, obj, rate[1]),
                         divergence_advice=_divergence_advice(p, rate[0]))
        return train(obj, BatchSource(obj.data, p.batch_size), P0, cfg, rng), rate[0], certifier


def make_result(obj: Objective, out, p: FitParams, lr0, certifier, info=None) -> FitResult:
    """The FitResult of a solver's outcome, in original units, with its optimality certificate;
    warns when not converged, saying what was reached and what to change."""
    coef, icpt = obj.to_original(out.P)
    g = out.g
    if g is None:
        _, g = obj.value_grad(out.P)
    cert = certifier.certify(out.P, g, out.G0 or 1.0, out.step)
    converged, reason = out.converged, out.stop_reason
    auto_full = p.tol == "auto" and not is_minibatch(p, obj.n) and not p.early_stopping
    rel = cert.get("coef_rel_error")
    if auto_full and not converged and out.info.get("rounding_floor") and rel is not None \
            and cert["method"] != "ill-conditioned" and rel <= TARGET_REL_ERROR:
        # the rounding floor of a solver outside the loop (scipy's L-BFGS), with the
        # distance certified as the loop's CertifiedOptimum rule certifies it
        converged = True
        reason += (f"; at that floor the certificate puts the coefficients within {rel:.2g} "
                   f"(relative) of the optimum, inside the {TARGET_REL_ERROR:g} target")
    elif auto_full and converged and cert["method"] == "ill-conditioned":
        converged = False
        reason += ("; but the curvature is too ill-conditioned in double precision to certify "
                   "the distance to the optimum")
    elif auto_full and converged and cert.get("coef_rel_error") is not None:
        if cert["coef_rel_error"] > TARGET_REL_ERROR:
            converged = False
            reason += (f"; but the certificate puts the coefficients {cert['coef_rel_error']:.2g}"
                       f" (relative) from the optimum, short of the {TARGET_REL_ERROR:g} target")
    res = FitResult(coef, icpt, out.n_iter, converged, reason, out.objective,
                    out.history, solver=p.spec.name, learning_rate=lr0,
                    lipschitz=obj.lipschitz_value,
                    info=dict(out.info, standardized=obj.scaling.kind, **(info or {})),
                    certificate=cert)
    if not converged and not reason.startswith("stopped by the callback"):
        digits = cert.get("digits")
        got = (f"; the coefficients are certified to {digits} significant digits"
               if digits is not None else "")
        warn_user(f"{p.spec.name} did not converge: {reason}{got}. {_advice(p, obj)}")
    return res


def _divergence_advice(p: FitParams, lr0) -> str | None:
    """What to do when the loop diverges under the automatic rate of a per-coordinate rule
    (a share of the targets' spread, not 1/L); None: the engine's fixed-rate advice."""
    if p.learning_rate != "auto" or p.spec.auto_rate != "spread":
        return None
    smaller = f"{float(lr0) / 10:.3g}" if lr0 else "a smaller value"
    units = ("" if p.standardize is not False else "let gradfit standardize (standardize="
             "'auto', the default, or True), so that every coordinate's step is in comparable "
             "units, or ")
    return (f"{p.spec.name}'s automatic rate ({float(lr0 or 0):.3g}) is a share of the "
            f"targets' spread, not a bound from the curvature: {units}pass a smaller "
            f"learning_rate (e.g. learning_rate={smaller}), or use solver='nesterov' or "
            "'lbfgs', whose automatic rate 1/L does not diverge on the squared loss")


def _advice(p: FitParams, obj: Objective) -> str:
    if not obj.scaling.is_diagonal or p.spec.kind == "closed_form":
        return ("The data are too ill-conditioned for more digits by gradient steps in "
                "double precision; solver='exact' gives the least-squares answer to full "
                "precision" if p.loss == "squared" else "Increase max_iter or loosen tol")
    faster = [s for s in ("nesterov", "lbfgs", "exact") if s != p.spec.name
              and (s != "exact" or (p.loss == "squared" and p.penalty_record.is_smooth))
              and (s != "lbfgs" or p.penalty_record.is_smooth)]
    return ("Increase max_iter, loosen tol, or use a faster solver ("
            + ", ".join(f"solver={s!r}" for s in faster) + ")")


def squeeze_single(res: FitResult, single: bool) -> FitResult:
    """Coefficients (d,) and a float intercept for a single-output fit."""
    if single:
        res.coef = np.asarray(res.coef).reshape(-1)
        res.intercept = float(np.asarray(res.intercept).reshape(-1)[0])
        res.history.squeeze_output()
        cert = res.certificate or {}
        for key in ("coef_error", "coef_digits"):
            if cert.get(key) is not None:
                cert[key] = np.asarray(cert[key]).reshape(-1)
        if cert.get("intercept_error") is not None:
            cert["intercept_error"] = float(np.asarray(cert["intercept_error"]).reshape(-1)[0])
        if cert.get("intercept_digits") is not None:
            cert["intercept_digits"] = int(np.asarray(cert["intercept_digits"]).reshape(-1)[0])
    return res


def fit_backend(data, p: FitParams, hooks: Hooks | None = None, *, coef_init=None,
                intercept_init=None, single_output=None, rng=None) -> FitResult:
    """Fit on any backend with validated parameters: the one path every iterative fit takes.

    ``single_output`` (default ``data.k == 1``) makes the coefficients (d,) and the intercept
    a float.  ``rng``: the fit's generator (default: seeded from ``p.random_state``).  The
    closed form (``solver="exact"``) is ``gradfit.solvers.exact.solve_backend``."""
    hooks = hooks or Hooks()
    single = data.k == 1 if single_output is None else bool(single_output)
    if p.spec.kind == "closed_form":
        from gradfit.solvers.exact import closed_form_result, solve_backend

        w, b, info = solve_backend(data, fit_intercept=p.fit_intercept,
                                   alpha=p.penalty_record.l2)
        res = closed_form_result(p, w, b, info, data.S)
        res.info.update(hooks.info)
        return squeeze_single(res, single)
    obj = build_objective(p, data, **hooks.objective)
    y_mean = (hooks.y_mean if hooks.y_mean is not None and obj.gram_stats is None
              else target_mean(data, obj.gram_stats))
    P0 = initial_point(obj, y_mean, coef_init, intercept_init)
    out, lr0, certifier = run_solver(obj, P0, p, hooks, make_rng(p) if rng is None else rng)
    res = make_result(obj, out, p, lr0, certifier, info=hooks.info)
    return squeeze_single(res, single)
