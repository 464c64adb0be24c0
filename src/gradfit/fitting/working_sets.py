"""The working-set route of the one driver: L1 / elastic net on in-memory data.

``solver="cd"``, and the default ``solver="nesterov"`` with an L1 part in the penalty on
arrays in memory (full batch, squared loss, ``learning_rate="auto"``, no early stopping),
run working sets with gap-safe screening and coordinate-descent epochs
(``gradfit.solvers.working_set``) instead of the FISTA loop: the same objective and optimum,
reached in a few passes over X instead of hundreds.  The result has the driver's form
(a ``LoopOutcome`` and a certifier), so ``make_result`` treats it like every other fit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from gradfit.exceptions import InputError
from gradfit.fitting.params import FitParams, is_minibatch
from gradfit.model.backend import InMemory, capabilities
from gradfit.model.kernels import blas_single_thread
from gradfit.model.objective import column_moments
from gradfit.model.penalties import penalty_parts
from gradfit.model.result import History
from gradfit.solvers.engine import LoopOutcome
from gradfit.solvers.working_set import Columns, WorkingSet, certify, solve

__all__ = ["uses_working_sets", "run_working_sets", "Problem", "prepare", "ALGORITHM"]

ALGORITHM = ("working sets with gap-safe screening, each solved by coordinate-descent epochs "
             "on its Gram matrix")


def _in_memory(data) -> bool:
    """Whole arrays in this process (not a row subset of them)."""
    return capabilities(data).in_memory and getattr(data, "mask", None) is None


def uses_working_sets(p: FitParams, data, hooks) -> bool:
    """Whether this fit takes the working-set route: ``solver="cd"`` (which needs it: a clear
    error where it cannot run), or the default "nesterov" with an L1 part on in-memory data,
    full batches, the squared loss, the automatic rate and nothing that needs the epoch loop
    (early stopping, checkpoints, a resumed state)."""
    loop_hooks = (hooks.validation, hooks.resume, hooks.on_epoch_end, hooks.epoch_runner)
    if p.spec.kind == "working_set":
        if not _in_memory(data) or any(h is not None for h in loop_hooks):
            raise InputError(f"solver={p.spec.name!r} needs the data in memory as arrays (no "
                             "files, Dask, early stopping or checkpoints): use "
                             "solver='nesterov' there")
        return True
    parts = penalty_parts(p.penalty_record)
    return (p.spec.name == "nesterov" and parts is not None and parts[0] > 0
            and p.loss == "squared"
            and not is_minibatch(p, data.n) and p.learning_rate == "auto"
            and not p.early_stopping and _in_memory(data)
            and all(h is None for h in loop_hooks))


@dataclass
class Problem:
    """The centred, weighted data of one fit: the design and one target per output."""

    cols: Columns
    targets: list  # (y~, X~'y~, y~'y~, ybar) per output
    fit_intercept: bool
    mode: str


def prepare(X, Y, sw, fit_intercept: bool, *, moments=None, gram=None,
            mode="residual") -> Problem:
    """The :class:`Problem` of arrays X (n, d), Y (n, k), weights sw (or None).

    ``moments`` (mu, sigma) as ``gradfit.model.objective.column_moments`` gives them (two
    passes when not given); ``gram``: the data's ``GramStats`` (the cross products then
    come from them and ``mode`` is "gram")."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    S = float(len(X) if sw is None else np.sum(sw))
    ybar = (Y.sum(axis=0) if sw is None else sw @ Y) / S
    if not fit_intercept:
        ybar = np.zeros(Y.shape[1])
    if gram is not None:
        mx, my, W = gram.mean_x, gram.mean_y, gram.weight
        G, xty, yty = gram.gram, gram.xty, gram.yty
        if fit_intercept:
            mu = mx.copy()
        else:
            mu = np.zeros(len(mx))
            G = G + W * np.outer(mx, mx)
            xty = xty + W * np.outer(mx, my)
            yty = yty + W * np.outer(my, my)
        cols = Columns(X, sw, mu, S, gram=G)
        targets = [(cols.target(Y[:, j], ybar[j]), xty[:, j], yty[j, j], ybar[j])
                   for j in range(Y.shape[1])]
        return Problem(cols, targets, fit_intercept, "gram")
    if moments is None:
        moments = column_moments(InMemory(X, Y, sw), fit_intercept)
    mu, sigma = moments
    mu = np.asarray(mu, float) if fit_intercept else np.zeros(X.shape[1])
    cols = Columns(X, sw, mu, S, norms2=S * np.asarray(sigma, float) ** 2)
    targets = [(cols.target(Y[:, j], ybar[j]), None, None, ybar[j]) for j in range(Y.shape[1])]
    return Problem(cols, targets, fit_intercept, mode)


def _moments(obj):
    """(mu, sigma) of the objective's data when its scaling holds them (standardized
    coordinates), else None.  Where the objective replaced a zero spread by 1 the column's
    norm is overstated, which only makes screening more cautious."""
    if obj.scaling.kind == "diagonal":
        return obj.mu, obj.sigma
    return None


class _Certified:
    """The certifier's face for ``make_result``: the certificate is already made."""

    constant = False

    def __init__(self, certificate):
        self.certificate = certificate

    def certify(self, P, g, G0, step):
        return self.certificate


def run_working_sets(obj, P0, p: FitParams, hooks):
    """Run the working-set solver on ``obj``'s in-memory data from P0: (LoopOutcome, None,
    certifier) as ``run_solver`` returns them.  BLAS runs on one thread: the passes X' r are
    bound by memory, the rest is small, and a second thread on a busy machine costs more
    than it gives (measured 1.5x slower under load)."""
    with blas_single_thread():
        return _run(obj, P0, p, hooks)


def _run(obj, P0, p, hooks):
    data = obj.data
    t0 = time.perf_counter()
    prob = prepare(data.X, data.y, data.sw, obj.fit_intercept, moments=_moments(obj),
                   gram=obj.gram_stats)
    l1, l2 = penalty_parts(p.penalty_record)
    half_S = prob.cols.S / 2.0
    lam1, lam2 = l1 * half_S, l2 * half_S
    coef0, _ = obj.to_original(P0)
    k = len(prob.targets)
    history = History()
    outs, certs, sets = [], [], []
    for j, (yt, c0, yty, ybar) in enumerate(prob.targets):
        ws = WorkingSet(prob.cols, yt, prob.mode, c0=c0, yty=yty)
        start = np.flatnonzero(coef0[:, j])
        if start.size:
            ws.add(start)
            ws.w[:] = coef0[start, j]
        record = _recorder(history, hooks.callback, p, prob, j, k, t0, half_S)
        out = solve(ws, lam1, lam2, p.tol, p.max_iter, on_outer=record)
        outs.append(out)
        sets.append(ws)
        certs.append(certify(ws, lam1, lam2, prob.fit_intercept, ybar, c=out.c)
                     if out.reason != "stopped by the callback" else None)
    coef = np.column_stack([o.w for o in outs])
    icpt = np.array([t[3] - prob.cols.mu @ coef[:, j] for j, t in enumerate(prob.targets)])
    if not prob.fit_intercept:
        icpt = np.zeros(k)
    P = obj.from_original(coef, icpt)
    f = sum(o.primal for o in outs) / half_S
    if k > 1 or len(history) == 0:
        history.append(sum(o.epochs for o in outs), f, sum(o.kkt for o in outs) / half_S, 0.0,
                       time.perf_counter() - t0, coef, icpt)
    gw = np.column_stack([-(o.c - lam2 * o.w) for o in outs]) / half_S
    g = obj.to_solver_grad(gw, np.zeros(k))
    converged = all(o.converged for o in outs)
    reasons = sorted({o.reason for o in outs})
    reason = f"{ALGORITHM}: " + "; ".join(reasons)
    info = {"algorithm": ALGORITHM, "outer_iterations": [o.outer for o in outs],
            "working_set": [o.info["working_set"] for o in outs],
            "support": [o.info["support"] for o in outs],
            "screened": [o.screened for o in outs], "passes": prob.cols.passes}
    if k == 1:
        info = {key: (v[0] if isinstance(v, list) else v) for key, v in info.items()}
    kkt0 = float(np.sqrt(sum(o.kkt0 ** 2 for o in outs)))
    out = LoopOutcome(P, f, sum(o.epochs for o in outs), converged, reason, history, info,
                      g=g, G0=kkt0 / half_S, step=1.0)
    cert = _combine(certs, outs, kkt0, half_S)
    return out, None, _Certified(cert)


def _recorder(history, callback, p, prob, j, k, t0, half_S):
    """The per-outer-iteration hook: history (single output) and the user's callback."""

    def record(state):
        w = state["w"]
        f = state["primal"] / half_S
        ybar = prob.targets[j][3]
        b = ybar - prob.cols.mu @ w if prob.fit_intercept else 0.0
        elapsed = time.perf_counter() - t0
        if k == 1:
            history.append(state["epochs"], f, state["kkt"] / half_S, 0.0, elapsed,
                           w[:, None], np.array([b]))
        if callback is not None:
            return callback({"epoch": state["epochs"], "max_iter": p.max_iter, "objective": f,
                             "grad_norm": state["kkt"] / half_S, "lr": 0.0, "elapsed": elapsed,
                             "duality_gap": state["gap"] / half_S, "output": j})
        return None

    return record


def _combine(certs, outs, kkt0, half_S) -> dict:
    """One certificate for all outputs (per-coefficient arrays (d, k), the worst figures)."""
    kkt = float(np.sqrt(sum(o.kkt ** 2 for o in outs)))
    out = {"grad_norm": kkt / half_S, "grad_norm_rel": kkt / kkt0 if kkt0 > 0 else 0.0,
           "method": "duality-gap", "digits": None, "coef_rel_error": None,
           "objective_gap_rel": None}
    if any(c is None for c in certs):
        out["method"] = "gradient"
        return out
    methods = {c["method"] for c in certs}
    out["method"] = "ill-conditioned" if "ill-conditioned" in methods else "duality-gap"
    out["duality_gap"] = sum(c["duality_gap"] for c in certs)
    total = sum(o.primal for o in outs)
    out["objective_gap_rel"] = out["duality_gap"] * half_S / max(total, 1e-300)
    out["support"] = [c["support"] for c in certs] if len(certs) > 1 else certs[0]["support"]
    if out["method"] == "ill-conditioned":
        out.update(digits=0, note=next(c["note"] for c in certs if "note" in c))
        return out
    out["digits"] = min(c["digits"] for c in certs)
    out["coef_rel_error"] = max(c["coef_rel_error"] for c in certs)
    out["coef_error"] = np.column_stack([c["coef_error"] for c in certs])
    out["coef_digits"] = np.column_stack([c["coef_digits"] for c in certs])
    if certs[0]["intercept_error"] is not None:
        out["intercept_error"] = np.array([c["intercept_error"] for c in certs])
        out["intercept_digits"] = np.array([c["intercept_digits"] for c in certs])
    else:
        out["intercept_error"] = None
    return out
