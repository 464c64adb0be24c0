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

Stopping (``tol``):
- full batch: the norm of the (proximal) gradient mapping fell below tol times its value at
  the start; or, once below 1e-6 x its start, it has not reached a new minimum for the last
  half of the run (at least 10 x n_iter_no_change epochs): the floating-point floor, where
  rounding in the gradient itself stops progress;
- mini-batch: F improved by less than tol * |F_best| for n_iter_no_change epochs (a noisy
  gradient's norm says little);
- early_stopping: the loss on the held-out rows improved by less than tol * |best| for
  n_iter_no_change epochs; the best parameters seen are restored.

Divergence: a non-finite objective or parameters, or F above 1e6 times its starting value,
stops at once with a DivergenceError naming the rate and the largest stable one (2 / L).
The loop never prints and never reads files; ``callback(info)`` sees each epoch and can stop
the fit by returning False.  ``on_epoch_end(state)`` sees the loop's whole state after each
epoch (a checkpoint, see ``gradfit.fitting.checkpoint``), and ``resume_state`` continues from such a
state: the run then ends exactly where the uninterrupted run would have.
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

__all__ = ["LoopConfig", "LoopOutcome", "train"]

_EPS = np.finfo(float).eps


@dataclass
class LoopConfig:
    optimizer: Optimizer
    schedule: Callable[[float], float]
    max_iter: int = 1000
    tol: float = 1e-6
    n_iter_no_change: int = 5
    average: bool = False
    backtracking: bool = False
    validation: object = None  # a backend of held-out rows, for early stopping
    callback: Callable | None = None
    history_records: int = 1000
    # checkpoint hook: called at the end of every epoch (once the stopping rules let the loop
    # go on) with the loop's state, a dict of references (serialize it before returning)
    on_epoch_end: Callable[[dict], None] | None = None
    resume_state: dict | None = None  # such a state: the loop continues from it
    # one whole mini-batch epoch compiled (gradfit.solvers.minibatch_numba.epoch_runner):
    # run(P, state, avg, n_avg, epoch, rng) -> (P, state, avg, n_avg, lr), the same updates as
    # the Python loop below (the reference path, used when this is None)
    compiled_epoch: Callable | None = None


@dataclass
class LoopOutcome:
    P: np.ndarray
    objective: float
    n_iter: int
    converged: bool
    stop_reason: str
    history: History
    info: dict = field(default_factory=dict)


def _norm(a) -> float:
    return float(np.sqrt((a * a).sum()))


def _diverged(f, P, f_start) -> bool:
    return (not np.isfinite(f)) or (not np.all(np.isfinite(P))) or f > 1e6 * (abs(f_start) + 1e-300)


def _divergence_error(obj: Objective, lr: float, epoch: int) -> DivergenceError:
    try:
        with np.errstate(all="ignore"):
            safe = 2.0 / obj.lipschitz()
    except Exception:  # noqa: BLE001 - the message must survive a failing estimate
        safe = None
    hint = f"the largest stable fixed rate for this data is 2/L = {safe:.6g}; " if safe else ""
    return DivergenceError(
        f"gradient descent diverged at epoch {epoch} with learning_rate={lr:.6g} (the objective "
        f"became non-finite or exploded); {hint}use learning_rate='auto' (1/L, never diverges "
        "on the squared loss) or a smaller rate",
        learning_rate=lr, safe_rate=safe, epoch=epoch,
    )


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


# the loop's carried state, as handed to LoopConfig.on_epoch_end (with "info", "rng_state" and
# "elapsed") and taken back by LoopConfig.resume_state; "state" is the optimizer's state
_CARRIED = ("P", "state", "f", "g", "f_start", "lr", "step_ref", "G0", "history", "avg",
            "n_avg", "best_val", "best_P", "no_change", "best_f", "best_G", "epoch")


def train(obj: Objective, source: BatchSource, P0, cfg: LoopConfig, rng) -> LoopOutcome:
    """Run the loop from P0.  See the module docstring."""
    opt = cfg.optimizer
    nb = source.batches_per_epoch
    converged, reason = False, None
    if cfg.resume_state is None:
        state = opt.init(P0)
        P = P0.copy()
        hist = History(cfg.history_records)
        t0 = time.perf_counter()
        f, g = obj.value_grad(P)
        f_start = f
        lr = cfg.schedule(0.0)
        step_ref = lr  # step used for the gradient mapping's norm
        G0 = _norm(obj.grad_mapping(P, g, step_ref))
        coef, icpt = obj.to_original(P)
        hist.append(0, f, G0, lr, 0.0, coef, icpt)
        if _diverged(f, P, f_start if np.isfinite(f_start) else 1.0):
            raise _divergence_error(obj, lr, 0)
        avg, n_avg = (P.copy(), 0) if cfg.average else (None, 0)
        best_val, best_P, no_change = np.inf, None, 0
        best_f, best_G = f, G0
        info = {"line_search_trials": 0, "restarts": 0}
        epoch = 0
    else:  # continue from a state given by on_epoch_end (a checkpoint)
        r = cfg.resume_state
        P, state, f, g, f_start, lr, step_ref, G0 = (r[k] for k in _CARRIED[:8])
        (hist, avg, n_avg, best_val, best_P, no_change, best_f, best_G,
         epoch) = (r[k] for k in _CARRIED[8:])
        info = dict(r["info"])
        rng.bit_generator.state = r["rng_state"]
        t0 = time.perf_counter() - r["elapsed"]
    start = epoch + 1
    for epoch in range(start, cfg.max_iter + 1):
        if cfg.on_epoch_end is not None and epoch > start:  # the state after epoch - 1
            carried = (P, state, f, g, f_start, lr, step_ref, G0, hist, avg, n_avg, best_val,
                       best_P, no_change, best_f, best_G, epoch - 1)
            cfg.on_epoch_end(dict(zip(_CARRIED, carried), info=info,
                                  elapsed=time.perf_counter() - t0,
                                  rng_state=rng.bit_generator.state))
        with np.errstate(all="ignore"):
            if source.full_batch:
                if cfg.backtracking:  # from the last accepted rate (tried at twice that)
                    x, lr, fx, gx, trials = _armijo_step(obj, P, f, g, lr)
                    info["line_search_trials"] += trials
                    P, state = opt.after_step(x, P, state)
                    if P is x:
                        f, g = fx, gx
                    else:
                        f, g = obj.value_grad(P)
                else:
                    lr = cfg.schedule(epoch - 1.0)
                    d, state = opt.update(g, state)
                    x = obj.prox(P - lr * d, lr / opt.metric(state))
                    P, state = opt.after_step(x, P, state)
                    f, g = obj.value_grad(P)
                if cfg.average:
                    n_avg += 1
                    avg += (opt.position(P, state) - avg) / n_avg
            else:
                if cfg.average and epoch == 2:  # average from the second epoch on:
                    n_avg = 0  # the first one only travels from the starting point
                if cfg.compiled_epoch is not None:  # the same epoch in one compiled call
                    P, state, avg, n_avg, lr = cfg.compiled_epoch(P, state, avg, n_avg, epoch,
                                                                  rng)
                else:
                    for j, (Xb, yb, sb) in enumerate(source.epoch(rng)):
                        lr = cfg.schedule(epoch - 1.0 + j / nb)
                        gb = obj.batch_grad(P, Xb, yb, sb)
                        d, state = opt.update(gb, state)
                        x = obj.prox(P - lr * d, lr / opt.metric(state))
                        P, state = opt.after_step(x, P, state)
                        if cfg.average:
                            n_avg += 1
                            avg += (opt.position(P, state) - avg) / n_avg
                f, g = obj.value_grad(avg if cfg.average else opt.position(P, state))
            if cfg.average and source.full_batch:
                f, g_rep = obj.value_grad(avg)
        current = avg if cfg.average else opt.position(P, state)
        if _diverged(f, current, f_start):
            raise _divergence_error(obj, lr, epoch)
        step_ref = lr if lr > 0 else step_ref
        Gn = _norm(obj.grad_mapping(current if not source.full_batch else P, g, step_ref))
        coef, icpt = obj.to_original(current)
        elapsed = time.perf_counter() - t0
        hist.append(epoch, f, Gn, lr, elapsed, coef, icpt)
        if cfg.callback is not None:
            keep_going = cfg.callback({"epoch": epoch, "max_iter": cfg.max_iter, "objective": f,
                                       "grad_norm": Gn, "lr": lr, "elapsed": elapsed})
            if keep_going is False:
                reason = f"stopped by the callback after epoch {epoch}"
                break

        # ---- stopping rules
        if cfg.validation is not None:
            v = obj.data_value_on(current, cfg.validation)
            if v < best_val - cfg.tol * abs(best_val):
                best_val, best_P, no_change = v, current.copy(), 0
            else:
                no_change += 1
            if no_change >= cfg.n_iter_no_change:
                converged = True
                reason = (f"validation loss improved by less than tol={cfg.tol:g} x best for "
                          f"{cfg.n_iter_no_change} epochs (early stopping); best parameters kept")
                break
            continue
        if source.full_batch:
            if Gn <= cfg.tol * G0 or Gn == 0.0:
                converged = True
                reason = (f"gradient norm {Gn:.3g} fell below tol={cfg.tol:g} x its initial "
                          f"value {G0:.3g}")
                break
            if Gn < best_G:
                best_G, no_change = Gn, 0
            else:
                no_change += 1
            window = max(10 * cfg.n_iter_no_change, epoch // 2)
            if no_change >= window and best_G <= 1e-6 * G0:
                converged = True
                reason = (f"gradient norm stopped decreasing for {no_change} epochs at "
                          f"{best_G:.3g} ({best_G / G0:.2g} x initial): the floating-point "
                          "floor of this problem")
                break
        else:
            if f < best_f - cfg.tol * abs(best_f):
                best_f, no_change = f, 0
            else:
                no_change += 1
            if no_change >= cfg.n_iter_no_change:
                converged = True
                reason = (f"objective improved by less than tol={cfg.tol:g} x best for "
                          f"{cfg.n_iter_no_change} epochs")
                break

    final = avg if cfg.average else opt.position(P, state)
    if cfg.validation is not None and best_P is not None:
        final = best_P
    if final is not P:
        f = obj.value(final)
    if reason is None:
        reason = (f"reached max_iter={cfg.max_iter} epochs before the stopping rule "
                  f"(gradient norm {hist.grad_norm[-1]:.3g}, tol x initial = {cfg.tol * G0:.3g})")
    return LoopOutcome(final, f, epoch, converged, reason, hist, info)
