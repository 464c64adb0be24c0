"""(b) One mini-batch epoch (batch sizes 32, 256, 4096, and 1) against an epoch of
scikit-learn's per-sample SGDRegressor (max_iter=1, tol=None) on the same data.

gradfit's epoch is timed inside a fit (``gradfit.fit(..., solver="gd", batch_size=B,
max_iter=3, tol=0)``) from one epoch's callback to the next, so set-up (standardisation
statistics, the step-size estimate) is left out; it goes to ``extra`` as ``setup_s``.
"""

from __future__ import annotations

import time

import numpy as np
from common import Row, Skip, quiet, ratio_row, regression_data, size_label

TARGETS = {1: 100.0, 32: 3.0, 256: 1.0, 4096: 0.5}  # provisional bounds on gradfit / SGD


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


def run(quick: bool) -> list[Row]:
    try:
        import gradfit  # noqa: F401
        from gradfit import fit  # noqa: F401
    except ImportError as e:
        raise Skip(f"gradfit.fit is not importable yet: {e}") from None
    n, n1, d = (2_000, 500, 10) if quick else (100_000, 10_000, 20)
    repeats = 3
    rows = []
    for batch, rows_n in ((32, n), (256, n), (4096, n), (1, n1)):
        if batch >= rows_n:
            continue
        X, y = regression_data(rows_n, d, "std-well", seed=3)
        sgd = sgd_epoch(X, y, repeats)
        epoch, setup = gradfit_epoch(X, y, batch, 1 if batch == 1 else repeats)
        rows.append(ratio_row(f"b mini-batch epoch, batch_size={batch}",
                              size_label(rows_n, d), epoch, sgd, "SGDRegressor epoch",
                              TARGETS[batch], setup_s=setup))
    return rows
