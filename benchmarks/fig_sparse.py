"""(s) One epoch of plain SGD on sparse rows (scipy CSR, 1e6 x 1e5 with 20 stored values a
row: hashed or one-hot features) against an epoch of scikit-learn's SGDRegressor on the same
matrix.

Settings, the same on both sides: one row per step (gradfit ``batch_size=1``, SGDRegressor is
per-sample), shuffled rows, no penalty, no averaging, squared loss, the rows of X as given
(CSR, float64).  gradfit: ``gradfit.fit(X, y, solver="gd", batch_size=1, average=False,
max_iter=3, tol=0)``, its epoch timed from one epoch's callback to the next (set-up, the
standardisation statistics and the step size, goes to ``extra`` as ``setup_s``; the epoch
includes the loop's full pass for the objective), in two coordinate systems: the default
(standardized: the centring carried by a scalar, ``gradfit.solvers.minibatch_sparse``) and
``learning_rate=0.01`` (the caller's units, x . v + b a row, like SGDRegressor).
SGDRegressor: ``SGDRegressor(penalty=None, max_iter=1, tol=None, random_state=0)``
(invscaling rate from eta0 = 0.01), the whole fit timed.

Target (the issue's): the epoch-time ratio gradfit / SGDRegressor <= 1 (wall time; the
CPU-time ratio, less disturbed by a busy machine, is in ``extra`` as ``cpu_ratio``).
"""

from __future__ import annotations

import time

import numpy as np
from common import Row, Skip, quiet, ratio_row, size_label

NNZ_PER_ROW = 20


def sparse_data(n, d, seed=0):
    """CSR X (n, d) with NNZ_PER_ROW standard normal values a row in random columns, and
    y = X w + noise."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    cols = rng.integers(0, d, size=(n, NNZ_PER_ROW))
    X = sp.csr_matrix((rng.standard_normal(n * NNZ_PER_ROW), cols.ravel(),
                       np.arange(0, n * NNZ_PER_ROW + 1, NNZ_PER_ROW)), shape=(n, d))
    X.sum_duplicates()
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    return X, y


def gradfit_epoch(X, y, repeats, **params):
    """(wall seconds per epoch, set-up seconds, CPU seconds per epoch), medians."""
    import gradfit

    per_epoch, setup, cpu = [], [], []
    for _ in range(repeats):
        stamps, cpus = [], []

        def stamp(info, stamps=stamps, cpus=cpus):
            stamps.append(time.perf_counter())
            cpus.append(time.process_time())

        t0 = time.perf_counter()
        with quiet():
            gradfit.fit(X, y, solver="gd", batch_size=1, average=False, max_iter=3, tol=0,
                        random_state=0, callback=stamp, **params)
        per_epoch += list(np.diff(stamps))
        cpu += list(np.diff(cpus))
        setup.append(stamps[0] - t0 - (stamps[1] - stamps[0]))
    return float(np.median(per_epoch)), float(np.median(setup)), float(np.median(cpu))


def sgd_epoch(X, y, repeats):
    from sklearn.linear_model import SGDRegressor

    times, cpu = [], []
    for _ in range(repeats):
        with quiet():
            t, c = time.perf_counter(), time.process_time()
            SGDRegressor(penalty=None, max_iter=1, tol=None, random_state=0).fit(X, y)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return float(np.median(times)), float(np.median(cpu))


def run(quick: bool) -> list[Row]:
    try:
        import scipy.sparse  # noqa: F401

        import gradfit  # noqa: F401
        from gradfit.data.sparse import SparseBackend  # noqa: F401
    except ImportError as e:
        raise Skip(f"sparse input is not importable: {e}") from None
    n, d = (20_000, 2_000) if quick else (1_000_000, 100_000)
    X, y = sparse_data(n, d, seed=4)
    with quiet():  # compile (or load numba's cache) before anything is timed
        gradfit_epoch(X[:200], y[:200], 1)
        gradfit_epoch(X[:200], y[:200], 1, learning_rate=0.01)
    size = size_label(n, d) + f" CSR, {NNZ_PER_ROW} values a row"
    rows = []
    for label, params in (("standardized (default rate)", {}),
                          ("caller's units, learning_rate=0.01", {"learning_rate": 0.01})):
        sgd, sgd_cpu = sgd_epoch(X, y, 3)  # measured beside each: the same conditions
        epoch, setup, cpu = gradfit_epoch(X, y, 2, **params)
        rows.append(ratio_row(f"s sparse SGD epoch, batch_size=1, {label}", size, epoch, sgd,
                              "SGDRegressor epoch", 1.0, setup_s=setup, cpu_s=cpu,
                              baseline_cpu_s=sgd_cpu, cpu_ratio=cpu / sgd_cpu,
                              settings="gd, batch_size=1, no penalty, average=False; "
                                       "SGDRegressor(penalty=None, max_iter=1, tol=None)"))
    return rows
