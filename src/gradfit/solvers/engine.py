"""The one training loop.

Every first-order solver — gd, momentum, nesterov, adam; full-batch, mini-batch or
stochastic; with any schedule, averaging, line search and early stopping — runs here:

    for each epoch:
        for each batch of the source:
            g = dF/dP on the batch
            d, state = update(g, state)
            x = prox(P - lr d, lr / metric(state))
            P, state = after_step(x, P, state)
        evaluate F on the whole data; record history; check divergence and stopping

Stopping is a list of small rules (``gradfit.solvers.stopping``) asked in order after each
epoch; the first verdict ends the fit and says which parameters to return.  Full batch:
the gradient mapping relative to its start, the certified distance to the optimum where the
curvature is known, and the stall at the rounding floor (which returns the best iterate seen,
never the last); mini-batches: the objective's plateau; early stopping: the held-out loss.

Divergence: a non-finite objective or parameters, or F above 1e6 times its starting value,
stops at once with a DivergenceError naming the rate and the largest stable one (2 / L).
The loop never prints and never reads files; ``callback(info)`` sees each epoch and can stop
the fit by returning False.  ``on_epoch_end(state)`` sees the loop's whole state
(:class:`~gradfit.solvers.state.LoopState`) after each epoch (a checkpoint), and
``resume_state`` continues from such a state: the run then ends exactly where the
uninterrupted run would have.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gradfit.exceptions import DivergenceError
from gradfit.model.objective import Objective
from gradfit.model.result import History
from gradfit.solvers.optimizers import Optimizer
from gradfit.solvers.sources import BatchSource
from gradfit.solvers.state import LoopState
from gradfit.solvers.step import proximal_step, running_mean
from gradfit.solvers.stopping import Verdict

__all__ = ["LoopConfig", "LoopOutcome", "train"]

_EPS = np.finfo(float).eps


@dataclass
class LoopConfig:
    optimizer: Optimizer
    schedule: Callable[[float], float]
    max_iter: int = 1000
    rules: list = field(default_factory=list)  # stopping rules, asked in order
    average: bool = False
    backtracking: bool = False
    callback: Callable | None = None
    history_records: int = 1000
    # checkpoint hook: called at the end of every epoch (once the stopping rules let the loop
    # go on) with the LoopState (references: serialize it before returning)
    on_epoch_end: Callable[[LoopState], None] | None = None
    resume_state: LoopState | None = None  # such a state: the loop continues from it
    # one whole mini-batch epoch compiled (gradfit.solvers.minibatch_numba.epoch_runner):
    # run(P, state, avg, n_avg, epoch, rng) -> (P, state, avg, n_avg, lr), the same updates as
    # the Python loop below (the reference path, used when this is None)
    compiled_epoch: Callable | None = None
    # what a DivergenceError tells the user to do (None: the fixed-rate advice below)
    divergence_advice: str | None = None


@dataclass
class LoopOutcome:
    P: np.ndarray
    objective: float
    n_iter: int
    converged: bool
    stop_reason: str
    history: History
    info: dict = field(default_factory=dict)
    g: np.ndarray | None = None  # the smooth part's gradient at P, when known
    G0: float = 0.0  # the gradient mapping's norm at the start
    step: float = 1.0  # the step the gradient mapping is measured with


@dataclass
class _Loop:
    """What the stopping rules may look at besides the state."""

    obj: Objective
    current: np.ndarray | None = None


def _norm(a) -> float:
    return float(np.sqrt((a * a).sum()))


def _diverged(f, P, f_start) -> bool:
    return (not np.isfinite(f)) or (not np.all(np.isfinite(P))) or f > 1e6 * (abs(f_start) + 1e-300)


def _divergence_error(obj: Objective, lr: float, epoch: int,
                      advice: str | None = None) -> DivergenceError:
    try:
        with np.errstate(all="ignore"):
            safe = 2.0 / obj.lipschitz()
    except Exception:  # noqa: BLE001 - the message must survive a failing estimate
        safe = None
    hint = f"the largest stable fixed rate for this data is 2/L = {safe:.6g}; " if (
        safe and advice is None) else ""  # 2/L bounds plain steps, not per-coordinate ones
    return DivergenceError(
        f"gradient descent diverged at epoch {epoch} with learning_rate={lr:.6g} (the objective "
        f"became non-finite or exploded); {hint}"
        + (advice or "use learning_rate='auto' (1/L, never diverges on the squared loss) or a "
                     "smaller rate"),
        learning_rate=lr, safe_rate=safe, epoch=epoch)


def _armijo_step(obj: Objective, P, f, g, lr):
    """Backtracking (Beck & Teboulle): halve lr until
    F(x) <= F(P) + g.(x - P) + ||x - P||^2 / (2 lr) + alpha R(x) - alpha R(P),  x = prox(P - lr g).
    Returns (x, lr, F(x), g(x), trials).  Starts from 2 x the last accepted rate."""
    f_data = f - obj.penalty_value(P)
    lr = 2.0 * lr
    for trials in range(1, 80):
        x = obj.prox(P - lr * g, lr)
        fx_data, gx = obj.data_value_grad(x)
        diff = x - P
        bound = f_data + float((g * diff).sum()) + float((diff * diff).sum()) / (2.0 * lr)
        if np.isfinite(fx_data) and fx_data <= bound + 4 * _EPS * abs(f_data):
            return x, lr, fx_data + obj.penalty_value(x), gx, trials
        lr *= 0.5
    return P, lr, f, g, trials


def _start(obj: Objective, P0, cfg: LoopConfig) -> LoopState:
    state = cfg.optimizer.init(P0)
    P = P0.copy()
    f, g = obj.value_grad(P)
    lr = cfg.schedule(0.0)
    G0 = _norm(obj.grad_mapping(P, g, lr))
    s = LoopState(epoch=0, P=P, state=state, f=f, g=g, f_start=f, lr=lr, step_ref=lr, G0=G0,
                  history=History(cfg.history_records),
                  avg=P.copy() if cfg.average else None, best_f=f, best_G=G0,
                  best_iter_P=P.copy(), info={"line_search_trials": 0, "restarts": 0})
    coef, icpt = obj.to_original(P)
    s.history.append(0, f, G0, lr, 0.0, coef, icpt)
    if _diverged(f, P, f if np.isfinite(f) else 1.0):
        raise _divergence_error(obj, lr, 0, cfg.divergence_advice)
    return s


def _full_batch_epoch(obj: Objective, s: LoopState, cfg: LoopConfig) -> None:
    opt = cfg.optimizer
    if cfg.backtracking:  # from the last accepted rate (tried at twice that)
        x, s.lr, fx, gx, trials = _armijo_step(obj, s.P, s.f, s.g, s.lr)
        s.info["line_search_trials"] += trials
        P, s.state = opt.after_step(x, s.P, s.state)
        s.f, s.g = (fx, gx) if P is x else obj.value_grad(P)
        s.P = P
    else:
        s.lr = cfg.schedule(s.epoch - 1.0)
        s.P, s.state = proximal_step(obj, opt, s.P, s.state, s.g, s.lr)
        s.f, s.g = obj.value_grad(s.P)
    if cfg.average:
        s.n_avg = running_mean(s.avg, s.n_avg, opt.position(s.P, s.state))
        s.f = obj.value(s.avg)


def _minibatch_epoch(obj: Objective, source: BatchSource, s: LoopState, cfg: LoopConfig,
                     rng) -> None:
    opt = cfg.optimizer
    if cfg.average and s.epoch == 2:  # average from the second epoch on:
        s.n_avg = 0  # the first one only travels from the starting point
    if cfg.compiled_epoch is not None:  # the same epoch in one compiled call
        s.P, s.state, s.avg, s.n_avg, s.lr = cfg.compiled_epoch(s.P, s.state, s.avg, s.n_avg,
                                                                s.epoch, rng)
    else:
        nb = source.batches_per_epoch
        for j, (Xb, yb, sb) in enumerate(source.epoch(rng)):
            s.lr = cfg.schedule(s.epoch - 1.0 + j / nb)
            s.P, s.state = proximal_step(obj, opt, s.P, s.state,
                                         obj.batch_grad(s.P, Xb, yb, sb), s.lr)
            if cfg.average:
                s.n_avg = running_mean(s.avg, s.n_avg, opt.position(s.P, s.state))
    s.f, s.g = obj.value_grad(s.avg if cfg.average else opt.position(s.P, s.state))


def _returned_point(obj, s: LoopState, verdict, current):
    if verdict is None or verdict.returns == "current":
        return current
    if verdict.returns == "validation":
        return s.best_P if s.best_P is not None else current
    if verdict.returns == "best":
        return s.best_iter_P
    return _measured_point(obj, s.P, s.g, s.step_ref)  # "measured"


def _measured_point(obj, P, g, step):
    """The point a full-batch gradient measurement certifies: P itself for a smooth
    objective, its proximal step (exact zeros) for a non-smooth one."""
    if obj.prox_penalty.is_zero:
        return P
    return obj.prox(P - step * g, step)


def train(obj: Objective, source: BatchSource, P0, cfg: LoopConfig, rng) -> LoopOutcome:
    """Run the loop from P0.  See the module docstring."""
    with np.errstate(all="ignore"):  # divergence is caught below, never a silent NaN
        return _train(obj, source, P0, cfg, rng)


def _train(obj: Objective, source: BatchSource, P0, cfg: LoopConfig, rng) -> LoopOutcome:
    opt = cfg.optimizer
    if cfg.resume_state is None:
        s = _start(obj, P0, cfg)
        t0 = time.perf_counter()
    else:  # continue from a state given by on_epoch_end (a checkpoint)
        s = cfg.resume_state
        if s.best_iter_P is None:  # a checkpoint of a loop that did not track it
            s.best_iter_P = s.P.copy()
        rng.bit_generator.state = s.rng_state
        t0 = time.perf_counter() - s.elapsed
    loop = _Loop(obj)
    verdict = None
    start = s.epoch + 1
    for epoch in range(start, cfg.max_iter + 1):
        if cfg.on_epoch_end is not None and epoch > start:  # the state after epoch - 1
            s.elapsed, s.rng_state = time.perf_counter() - t0, rng.bit_generator.state
            cfg.on_epoch_end(s)
        s.epoch = epoch
        if source.full_batch:
            _full_batch_epoch(obj, s, cfg)
        else:
            _minibatch_epoch(obj, source, s, cfg, rng)
        current = s.avg if cfg.average else opt.position(s.P, s.state)
        loop.current = current
        if _diverged(s.f, current, s.f_start):
            raise _divergence_error(obj, s.lr, epoch, cfg.divergence_advice)
        s.step_ref = s.lr if s.lr > 0 else s.step_ref
        where = s.P if source.full_batch else current
        Gn = _norm(obj.grad_mapping(where, s.g, s.step_ref))
        if source.full_batch and not cfg.average and Gn < s.best_G:
            s.best_G, s.best_epoch = Gn, epoch
            s.best_iter_P = _measured_point(obj, s.P, s.g, s.step_ref)
        coef, icpt = obj.to_original(current)
        elapsed = time.perf_counter() - t0
        s.history.append(epoch, s.f, Gn, s.lr, elapsed, coef, icpt)
        if cfg.callback is not None:
            keep_going = cfg.callback({"epoch": epoch, "max_iter": cfg.max_iter,
                                       "objective": s.f, "grad_norm": Gn, "lr": s.lr,
                                       "elapsed": elapsed})
            if keep_going is False:
                verdict = _stopped(epoch)
                break
        for rule in cfg.rules:
            verdict = rule.check(s, Gn, loop)
            if verdict is not None:
                break
        if verdict is not None:
            break
    current = loop.current if loop.current is not None else opt.position(s.P, s.state)
    final = _returned_point(obj, s, verdict, current)
    f_at = s.avg if cfg.average else (s.P if source.full_batch else current)
    f = s.f if final is f_at else obj.value(final)
    if verdict is None:
        last = s.history.grad_norm[-1]
        verdict = Verdict(False, f"reached max_iter={cfg.max_iter} epochs before the stopping "
                                 f"rule (gradient norm {last:.3g}, "
                                 f"{last / s.G0 if s.G0 else 0:.2g} x initial)")
    return LoopOutcome(final, f, s.epoch, verdict.converged, verdict.reason, s.history,
                       dict(s.info), g=s.g if final is s.P else None, G0=s.G0, step=s.step_ref)


def _stopped(epoch):
    return Verdict(False, f"stopped by the callback after epoch {epoch}")
