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

    Stops when the gradient's max-norm falls below tol x its initial value (scipy's pgtol)
    or the relative objective change falls below machine precision (ftol)."""
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
                                "gtol": tol * float(np.abs(g0).max()) if G0 > 0 else 0.0,
                                "ftol": 4 * np.finfo(float).eps, "maxcor": 20})
    P = res.x.reshape(shape)
    f = obj.value(P)
    g_final = float(np.linalg.norm(fun(res.x)[1]))
    at_floor = not res.success and "ABNORMAL" in str(res.message) and g_final <= 1e-8 * G0
    converged = (bool(res.success) or at_floor) and not stopped[0]
    if stopped[0]:
        reason = f"stopped by the callback after iteration {epoch[0]}"
    elif at_floor:
        reason = ("L-BFGS converged: the line search can make no further progress at "
                  f"floating-point precision (gradient norm {g_final:.3g}, {g_final / G0:.2g} x "
                  "initial)")
    elif converged:
        reason = f"L-BFGS converged: {res.message}"
    else:
        reason = f"L-BFGS stopped without converging: {res.message}"
    return LoopOutcome(P, f, int(res.nit), converged, reason, hist,
                       {"function_evaluations": int(res.nfev)})


def conjugate_gradient(obj: Objective, P0, *, max_iter, tol, callback=None, history_records=1000):
    """Conjugate gradients (Hestenes & Stiefel 1952) on the normal equations

        A~ P = c,   A~ = Z' S Z / S + (l2 / 2) diag(c_j^2, 0),   c = Z' S y / S,

    each product A~ u being one kernel pass (all outputs share A~).  F is the quadratic
    F(P) = P' A~ P - 2 c' P + y'Sy/S, so with the residual r = c - A~ P it is
    F = y'Sy/S - P'(c + r): the history costs nothing.  Stops when ||r|| <= tol ||r_0||;
    the residual is recomputed from scratch every 50 iterations against drift.
    """
    hist = History(history_records)
    t0 = time.perf_counter()
    half_l2 = 0.0 if obj.penalty.is_zero else 0.5 * obj.penalty.l2

    def apply_A(U):
        out = np.empty_like(U)
        for j in range(U.shape[1]):
            out[:, j:j + 1] = obj._gram_apply(U[:, j:j + 1])
        if half_l2:
            out[: obj.d] += half_l2 * obj.c**2 * U[: obj.d]
        return out

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
    return LoopOutcome(P, obj.value(P), it, converged, reason, hist, {})
