"""(b) One mini-batch epoch (batch sizes 1, 32, 256, 4096) against an epoch of scikit-learn's
per-sample SGDRegressor (max_iter=1, tol=None) on the same data, 1e6 x 20.

gradfit's epoch is timed inside a fit (``gradfit.fit(..., solver="gd", batch_size=B,
max_iter=3, tol=0)``) from one epoch's callback to the next, so set-up (standardisation
statistics, the step-size estimate) is left out (it goes to ``extra`` as ``setup_s``); the
epoch includes the loop's full pass for the objective.  Batches up to
``minibatch_numba.MAX_BATCH`` rows run as one compiled call per epoch when numba is there.

Targets (the issue's): batch_size=256 at least as fast per row as SGDRegressor's epoch;
batch_size=1 no slower per row than SGDRegressor.  32 and 4096 are shown without a target.
"""

from __future__ import annotations

import time

import numpy as np
from common import Row, Skip, quiet, ratio_row, regression_data, size_label

TARGETS = {1: 1.0, 32: None, 256: 1.0, 4096: None}  # bounds on gradfit / SGDRegressor


def gradfit_epoch(X, y, batch_size, repeats):
    import gradfit

    per_epoch, setup = [], []
    for _ in range(repeats):
        stamps = []

        def stamp(info, stamps=stamps):
            stamps.append(time.perf_counter())

        t0 = time.perf_counter()
        with quiet():
            gradfit.fit(X, y, solver="gd", batch_size=batch_size, max_iter=3, tol=0,
                        random_state=0, callback=stamp)
        per_epoch += list(np.diff(stamps))
        setup.append(stamps[0] - t0 - (stamps[1] - stamps[0]))
    return float(np.median(per_epoch)), float(np.median(setup))


def sgd_epoch(X, y, repeats):
    from sklearn.linear_model import SGDRegressor

    times = []
    for _ in range(repeats):
        with quiet():
            t = time.perf_counter()
            SGDRegressor(max_iter=1, tol=None, random_state=0).fit(X, y)
            times.append(time.perf_counter() - t)
    return float(np.median(times))


def _warmup():
    """Load the compiled kernels (numba's cache) before anything is timed."""
    try:
        from gradfit.model import kernels_numba
        from gradfit.solvers import minibatch_numba

        kernels_numba.warmup()
        minibatch_numba.warmup()
    except ImportError:
        pass


def run(quick: bool) -> list[Row]:
    try:
        import gradfit  # noqa: F401
        from gradfit import fit  # noqa: F401
    except ImportError as e:
        raise Skip(f"gradfit.fit is not importable yet: {e}") from None
    _warmup()
    n, d = (5_000, 10) if quick else (1_000_000, 20)
    X, y = regression_data(n, d, "std-well", seed=3)
    size = size_label(n, d)
    rows = []
    for batch in (1, 32, 256, 4096):
        if batch >= n:
            continue
        sgd = sgd_epoch(X, y, 3)  # measured beside each batch size: the same conditions
        epoch, setup = gradfit_epoch(X, y, batch, 2)
        rows.append(ratio_row(f"b mini-batch epoch, batch_size={batch}", size, epoch, sgd,
                              "SGDRegressor epoch", TARGETS[batch], setup_s=setup))
    return rows
