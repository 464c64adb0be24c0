"""Solvers that use more than the last gradient: L-BFGS (through scipy) and conjugate
gradients on the normal equations (written here: each iteration's objective then comes for
free from the recurrence, one pass per iteration).

Both work in the standardized coordinates of ``Objective`` and handle smooth problems
(squared or Huber loss for L-BFGS, squared loss for CG; penalties none or l2).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

from gradfit.model.objective import Objective
from gradfit.model.result import History
from gradfit.solvers.engine import LoopOutcome

__all__ = ["lbfgs", "conjugate_gradient"]


def _record(hist, obj, epoch, f, gnorm, t0, P):
    coef, icpt = obj.to_original(P)
    hist.append(epoch, f, gnorm, np.nan, time.perf_counter() - t0, coef, icpt)


def lbfgs(obj: Objective, P0, *, max_iter, tol, callback=None, history_records=1000):
    """scipy's L-BFGS-B on F (data term + l2 penalty) over the flattened P.

    Honours ``tol``: it stops when the gradient's max-norm falls below tol x its initial
    value (scipy's pgtol); scipy's objective-change rule is off (ftol = 0), so an early stall
    of the objective's last digits does not end the fit.  Converged only when that criterion
    holds at the returned point; when the line search can make no further progress (the
    rounding floor) it says so, reports not converged unless the criterion holds, and marks
    ``info["rounding_floor"]``: under tol="auto" the driver then judges the fit by its
    certificate, as the loop's ``CertifiedOptimum`` rule does."""
    shape = P0.shape
    hist = History(history_records)
    t0 = time.perf_counter()
    last = {}

    def fun(theta):
        P = theta.reshape(shape)
        f, g = obj.value_grad(P)
        g = g + obj.smooth_penalty_grad(P)
        last.update(theta=theta.copy(), f=f, g=g)
        return f, g.ravel()

    f0, g0 = fun(P0.ravel())
    G0 = float(np.linalg.norm(g0))
    gmax0 = float(np.abs(g0).max()) if g0.size else 0.0
    _record(hist, obj, 0, f0, G0, t0, P0)
    epoch = [0]
    stopped = [False]

    def cb(intermediate_result):
        epoch[0] += 1
        P = intermediate_result.x.reshape(shape)
        same = np.array_equal(last["theta"], intermediate_result.x)
        gn = float(np.linalg.norm(last["g"])) if same else np.nan
        _record(hist, obj, epoch[0], intermediate_result.fun, gn, t0, P)
        if callback is not None and callback({"epoch": epoch[0], "max_iter": max_iter,
                                              "objective": float(intermediate_result.fun),
                                              "grad_norm": gn, "lr": np.nan,
                                              "elapsed": time.perf_counter() - t0}) is False:
            stopped[0] = True
            raise StopIteration

    with np.errstate(all="ignore"):
        res = minimize(fun, P0.ravel(), jac=True, method="L-BFGS-B", callback=cb,
                       options={"maxiter": max_iter, "maxfun": 4 * max_iter + 20,
                                "gtol": tol * gmax0 if gmax0 > 0 else 0.0,
                                "ftol": 0.0, "maxcor": 20, "maxls": 40})
    P = res.x.reshape(shape)
    f, g = fun(res.x)
    g_final = float(np.linalg.norm(g))
    met = float(np.abs(g).max()) <= tol * gmax0 or g_final == 0.0
    converged = met and not stopped[0]
    if stopped[0]:
        reason = f"stopped by the callback after iteration {epoch[0]}"
    elif met:
        reason = (f"L-BFGS converged: the gradient's max-norm fell below tol={tol:g} x its "
                  f"initial value (gradient norm {g_final:.3g})")
    # at the rounding floor: the line search finds no progress, or (ftol = 0) an iteration
    # that did not lower F at all
    floor = not met and not stopped[0] and any(
        key in str(res.message).upper() for key in ("ABNORMAL", "LINE SEARCH", "REDUCTION OF F"))
    if floor:
        reason = ("L-BFGS stopped: the line search can make no further progress at "
                  f"floating-point precision (gradient norm {g_final:.3g}, {g_final / G0:.2g} x "
                  f"initial, above tol={tol:g})")
    elif not (stopped[0] or met):
        reason = f"L-BFGS stopped without converging: {res.message}"
    P_last = last["theta"].reshape(shape)
    return LoopOutcome(P, f, int(res.nit), converged, reason, hist,
                       {"function_evaluations": int(res.nfev), "rounding_floor": floor},
                       g=last["g"] if np.array_equal(P_last, P) else None, G0=G0, step=1.0)


def conjugate_gradient(obj: Objective, P0, *, max_iter, tol, callback=None, history_records=1000):
    """Conjugate gradients (Hestenes & Stiefel 1952) on the normal equations

        A~ P = c,   A~ = Z' S Z / S + (l2 / 2) A'A (coefficient rows),   c = Z' S y / S,

    each product A~ u being one kernel pass (all outputs share A~).  F is the quadratic
    F(P) = P' A~ P - 2 c' P + y'Sy/S, so with the residual r = c - A~ P it is
    F = y'Sy/S - P'(c + r): the history costs nothing.  Stops when ||r|| <= tol ||r_0||;
    the residual is recomputed from scratch every 50 iterations against drift.
    """
    hist = History(history_records)
    t0 = time.perf_counter()
    apply_A = obj.quadratic_apply

    f0, g0 = obj.value_grad(P0)
    r = -(g0 / 2.0 + obj.smooth_penalty_grad(P0) / 2.0)
    c = r + apply_A(P0) if np.any(P0) else r.copy()
    yy = f0 + float((P0 * (c + r)).sum())
    P, p = P0.copy(), r.copy()
    rr = (r * r).sum(axis=0)
    r0 = rn = float(np.sqrt(rr.sum()))
    _record(hist, obj, 0, f0, 2 * r0, t0, P)
    converged, reason, it = r0 == 0.0, None, 0
    if converged:
        reason = "the starting point already solves the normal equations"
    while not converged and it < max_iter:
        it += 1
        Ap = apply_A(p)
        denom = (p * Ap).sum(axis=0)
        step = np.divide(rr, denom, out=np.zeros_like(rr), where=denom > 0)
        P = P + step * p
        r = c - apply_A(P) if it % 50 == 0 else r - step * Ap
        rr_new = (r * r).sum(axis=0)
        beta = np.divide(rr_new, rr, out=np.zeros_like(rr), where=rr > 0)
        p, rr = r + beta * p, rr_new
        rn = float(np.sqrt(rr.sum()))
        f = yy - float((P * (c + r)).sum())
        _record(hist, obj, it, f, 2 * rn, t0, P)
        if callback is not None and callback({"epoch": it, "max_iter": max_iter, "objective": f,
                                              "grad_norm": 2 * rn, "lr": np.nan,
                                              "elapsed": time.perf_counter() - t0}) is False:
            reason = f"stopped by the callback after iteration {it}"
            break
        if rn <= tol * r0:
            converged = True
            reason = f"residual norm fell below tol={tol:g} x its initial value"
    if reason is None:
        reason = f"reached max_iter={max_iter} iterations (residual {rn / r0:.3g} x initial)"
    f_end, g_end = obj.value_grad(P)
    return LoopOutcome(P, f_end, it, converged, reason, hist, {}, g=g_end, G0=2 * r0, step=1.0)
