"""(c) Time to reach a 1e-6 relative objective gap, (F - F*) / F*, per solver, against the
peers' time to their own stopping point (and the gap they reach), on four problems:
standardised or raw-scaled features (scales 1e-3..1e3, large offsets), well- or
ill-conditioned (cond(X'X) about 1e4 after standardisation).

F* comes from ``numpy.linalg.lstsq``.  Iterative solvers run with tol=0 and are stopped by
their callback once the gap is reached (or after a time cap); "exact" and the defaults run
as they are and are judged by the gap of their result.  The ratio's baseline is
LinearRegression's fit time on the same problem.
"""

from __future__ import annotations

import time

import numpy as np
from common import Row, Skip, quiet, regression_data, size_label

GAP = 1e-6
SOLVERS = ["gd", "momentum", "nesterov", "adam", "lbfgs", "cg"]
KINDS = ["std-well", "raw-well", "std-ill", "raw-ill"]


def optimum(X, y):
    A = np.column_stack([X, np.ones(len(X))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    return float(np.mean((y - A @ coef) ** 2))


def time_to_gap(X, y, fstar, cap_s, max_iter, **params):
    import gradfit

    state = {"t": None, "gap": np.inf}
    t0 = time.perf_counter()

    def cb(info):
        gap = (info["objective"] - fstar) / fstar
        state["gap"] = min(state["gap"], gap)
        if gap <= GAP:
            state["t"] = time.perf_counter() - t0
            return False
        return time.perf_counter() - t0 < cap_s

    with quiet():
        gradfit.fit(X, y, max_iter=max_iter, tol=0, callback=cb, **params)
    return state["t"], state["gap"], time.perf_counter() - t0


def timed(fn, repeats=3):
    ts, out = [], None
    with quiet():
        for _ in range(repeats):
            t = time.perf_counter()
            out = fn()
            ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out


def peers(X, y):
    """{name: (seconds, predictions)} for the peers at their own stopping points."""
    import statsmodels.api as sm
    from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor

    out = {}
    for name, make in [("LinearRegression", LinearRegression),
                       ("Ridge(cholesky)", lambda: Ridge(alpha=0.0, solver="cholesky")),
                       ("SGDRegressor", lambda: SGDRegressor(penalty=None, random_state=0))]:
        t, model = timed(lambda make=make: make().fit(X, y))
        out[name] = (t, model.predict(X))
    A = sm.add_constant(X, has_constant="add")
    t, res = timed(lambda: sm.OLS(y, A).fit())
    out["statsmodels OLS"] = (t, res.predict(A))
    return out


def run(quick: bool) -> list[Row]:
    try:
        import gradfit  # noqa: F401
        from gradfit import fit  # noqa: F401
    except ImportError as e:
        raise Skip(f"gradfit.fit is not importable yet: {e}") from None
    n, d, cap, max_iter = (2_000, 5, 0.5, 2_000) if quick else (20_000, 20, 5.0, 50_000)
    rows = []
    for kind in KINDS:
        rows += one_problem(n, d, kind, cap, max_iter)
    return rows


def one_problem(n, d, kind, cap, max_iter) -> list[Row]:
    import gradfit

    rows = []
    X, y = regression_data(n, d, kind, seed=4)
    fstar = optimum(X, y)
    size = f"{size_label(n, d)} {kind}"
    peer = peers(X, y)
    t_lr = peer["LinearRegression"][0]
    for solver in SOLVERS:
        t, gap, total = time_to_gap(X, y, fstar, cap, max_iter, solver=solver)
        rows.append(Row(f"c time to 1e-6 gap: {solver}", size, t, t_lr, "LinearRegression",
                        target=f"gap <= {GAP:g}", met=t is not None,
                        extra=dict(best_gap=gap, ran_s=total)))
    for label, params in [("exact", dict(solver="exact")), ("defaults", {})]:
        t, res = timed(lambda params=params: gradfit.fit(X, y, **params))
        gap = (res.objective - fstar) / fstar
        rows.append(Row(f"c time to 1e-6 gap: {label}", size, t, t_lr, "LinearRegression",
                        target=f"gap <= {GAP:g}", met=bool(gap <= GAP),
                        extra=dict(best_gap=gap, n_iter=res.n_iter)))
    for name, (t, pred) in peer.items():
        gap = (float(np.mean((y - pred) ** 2)) - fstar) / fstar
        rows.append(Row(f"c peer {name} (gap {gap:.1e})", size, None, t, name,
                        extra=dict(gap=gap)))
    return rows
