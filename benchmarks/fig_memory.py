"""(d) Peak memory during a fit, as a multiple of X's size: the tracemalloc peak above what
was allocated before the fit (numpy reports its buffers to tracemalloc; BLAS/LAPACK
work space and numba's own allocations are not seen).  The baseline is LinearRegression."""

from __future__ import annotations

import gc
import tracemalloc

from common import Row, Skip, quiet, regression_data, size_label

TARGET_ITERATIVE = 0.25  # gradient solvers never copy X
TARGET_EXACT = 1.0


def peak_multiple(fn, nbytes) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        with quiet():
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            fn()
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / nbytes


def run(quick: bool) -> list[Row]:
    try:
        import gradfit
    except ImportError as e:
        raise Skip(f"gradfit.fit is not importable yet: {e}") from None
    import statsmodels.api as sm
    from sklearn.linear_model import LinearRegression, Ridge, SGDRegressor

    n, d = (20_000, 20) if quick else (1_000_000, 20)
    X, y = regression_data(n, d, "std-well", seed=6)
    size = size_label(n, d)
    nb = X.nbytes
    peers = {
        "LinearRegression": lambda: LinearRegression().fit(X, y),
        "Ridge(cholesky)": lambda: Ridge(alpha=0.0, solver="cholesky").fit(X, y),
        "SGDRegressor": lambda: SGDRegressor(max_iter=1, tol=None).fit(X, y),
        "statsmodels OLS": lambda: sm.OLS(y, sm.add_constant(X)).fit(),
    }
    base = {k: peak_multiple(f, nb) for k, f in peers.items()}
    ours = {
        "gd full batch": (lambda: gradfit.fit(X, y, solver="gd", max_iter=3, tol=0),
                          TARGET_ITERATIVE),
        "lbfgs": (lambda: gradfit.fit(X, y, solver="lbfgs", max_iter=3, tol=0),
                  TARGET_ITERATIVE),
        "gd batch_size=256": (lambda: gradfit.fit(X, y, solver="gd", batch_size=256,
                                                  max_iter=1, tol=0), TARGET_ITERATIVE),
        "exact": (lambda: gradfit.fit(X, y, solver="exact"), TARGET_EXACT),
    }
    rows = []
    for name, (fn, target) in ours.items():
        m = peak_multiple(fn, nb)
        rows.append(Row(f"d peak memory: {name}", size, m, base["LinearRegression"],
                        "LinearRegression", unit="xX", target=f"gradfit <= {target:g} xX",
                        met=m <= target))
    for name, m in base.items():
        rows.append(Row(f"d peak memory: peer {name}", size, None, m, name, unit="xX"))
    return rows
