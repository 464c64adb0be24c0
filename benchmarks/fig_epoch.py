"""(a) One full-batch gradient epoch, as a multiple of the memory-bandwidth floor.

The floor is one read-only streaming pass over X's buffer: ``np.dot(flat, flat)``, with BLAS
pinned to one thread and to all threads, the faster taken.  For float32 X the same bytes are
also read as float64 (OpenBLAS's sdot is single-threaded), again the faster taken.
Contenders: the numpy kernel ``kernels.value_grad`` (row blocks, BLAS on one thread), the
numba kernel ``kernels_numba.value_grad`` (numba's threads), and the one-line numpy gradient
``X.T @ (X @ w - y)`` with BLAS on all threads and on one.  Two passes: BLAS pinned to one
thread (floor, both kernels, one-liner), then BLAS free (floor, one-liner); the limits are
set around a pass, never inside a timed call (threadpoolctl costs 0.05-2 ms).  Each
contender's repetitions run back to back, so that idle threads of the previous one, still
spinning, do not tax it (on 2 busy cores that cost a 1e5 x 20 pass 20x).
One more row: an epoch of the tutorial's per-point Python loop against the kernel.
"""

from __future__ import annotations

import gc

import numpy as np
from common import Row, interleaved, ratio_row, size_label
from threadpoolctl import threadpool_limits

TARGET_NUMBA = 2.0  # numba kernel epoch <= 2x the floor
TARGET_NUMPY = 3.0  # numpy kernel epoch <= 3x the floor
TARGET_TUTORIAL = 0.01  # the kernel is at least 100x faster than the per-point loop
TARGET_MIN_BYTES = 100e6  # smaller X sits in cache: the floor is no memory floor, no target

FULL = [(1_000, 2, np.float64), (100_000, 20, np.float64), (1_000_000, 20, np.float64),
        (10_000_000, 20, np.float64), (10_000_000, 20, np.float32)]
QUICK = [(1_000, 2, np.float64), (20_000, 20, np.float64), (20_000, 20, np.float32)]


def _repeats(n, d):
    cells = n * d
    return 25 if cells <= 2e6 else (7 if cells <= 2e7 else 5)


def _floor_fns(X):
    flat = X.reshape(-1)
    fns = {"floor": lambda: np.dot(flat, flat)}
    if X.dtype == np.float32 and flat.size % 2 == 0:
        f64 = flat.view(np.float64)
        fns["floor f64view"] = lambda: np.dot(f64, f64)
    return fns


def epoch_rows(n, d, dtype, repeats=None) -> list[Row]:
    from gradfit import kernels, kernels_numba

    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d), dtype=np.float32 if dtype == np.float32 else np.float64)
    y = rng.standard_normal((n, 1))
    mu = X.mean(axis=0, dtype=np.float64)
    v = rng.standard_normal((d, 1))
    b = np.zeros(1)
    w1 = v[:, 0].astype(X.dtype)  # the one-liner in X's own precision (no float64 copy)
    y1 = y[:, 0].astype(X.dtype)
    repeats = repeats or _repeats(n, d)
    # pass 1, BLAS on one thread: no idle OpenBLAS threads spinning beside numba's
    fns = _floor_fns(X)
    fns["numpy kernel"] = lambda: kernels.value_grad(X, y, None, mu, v, b, "squared", 1.35)
    if kernels_numba.available():
        fns["numba kernel"] = lambda: kernels_numba.value_grad(X, y, None, mu, v, b,
                                                               "squared", 1.35)
    fns["one-line"] = lambda: X.T @ (X @ w1 - y1)
    with threadpool_limits(1, user_api="blas"):
        t1 = interleaved(fns, repeats, blocked=True)
    # pass 2, BLAS on all threads
    fns = _floor_fns(X)
    fns["one-line"] = lambda: X.T @ (X @ w1 - y1)
    t2 = interleaved(fns, repeats, blocked=True)
    t = {f"{k} blas=1": v for k, v in t1.items()} | {f"{k} blas=all": v for k, v in t2.items()}
    floor_name = min((k for k in t if k.startswith("floor")), key=lambda k: t[k][0])
    floor = t[floor_name][0]
    size = size_label(n, d, dtype)
    common = dict(floor_via=floor_name, times={k: v[0] for k, v in t.items()},
                  GBps_floor=X.nbytes / floor / 1e9)
    big = X.nbytes >= TARGET_MIN_BYTES
    rows = [ratio_row("a epoch: numpy kernel", size, t["numpy kernel blas=1"][0], floor,
                      "floor", TARGET_NUMPY if big else None, **common)]
    if "numba kernel blas=1" in t:
        rows.append(ratio_row("a epoch: numba kernel", size, t["numba kernel blas=1"][0],
                              floor, "floor", TARGET_NUMBA if big else None, **common))
    rows.append(ratio_row("a epoch: X.T @ (X @ w - y), BLAS all threads", size,
                          t["one-line blas=all"][0], floor, "floor", None, **common))
    rows.append(ratio_row("a epoch: X.T @ (X @ w - y), BLAS 1 thread", size,
                          t["one-line blas=1"][0], floor, "floor", None, **common))
    return rows


def tutorial_epoch(b, m, points, lr):
    """step_gradient of the classic tutorial (one epoch of per-point Python)."""
    b_gradient = 0
    m_gradient = 0
    N = float(len(points))
    for i in range(0, len(points)):
        x = points[i, 0]
        y = points[i, 1]
        b_gradient += -(2 / N) * (y - ((m * x) + b))
        m_gradient += -(2 / N) * x * (y - ((m * x) + b))
    return b - lr * b_gradient, m - lr * m_gradient


def tutorial_row(n) -> Row:
    from gradfit import kernels, kernels_numba

    rng = np.random.default_rng(2)
    points = np.column_stack([rng.uniform(25, 70, n), rng.uniform(30, 120, n)])
    X = np.ascontiguousarray(points[:, :1])
    y = points[:, 1:].copy()
    k = kernels_numba if kernels_numba.available() else kernels
    args = (X, y, None, np.zeros(1), np.zeros((1, 1)), np.zeros(1), "squared", 1.35)
    t = interleaved({"kernel": lambda: k.value_grad(*args),
                     "tutorial": lambda: tutorial_epoch(0.0, 0.0, points, 1e-4)}, 3)
    return ratio_row(f"a epoch vs tutorial loop ({k.__name__.split('.')[-1]})",
                     size_label(n, 1), t["kernel"][0], t["tutorial"][0], "per-point loop",
                     TARGET_TUTORIAL)


def run(quick: bool) -> list[Row]:
    try:
        from gradfit import kernels, kernels_numba  # noqa: F401
    except ImportError as e:
        from common import Skip

        raise Skip(f"gradfit.kernels is not importable: {e}") from None
    if kernels_numba.available():
        kernels_numba.warmup()
    rows = []
    for n, d, dtype in (QUICK if quick else FULL):
        rows += epoch_rows(n, d, dtype)
        gc.collect()
    rows.append(tutorial_row(10_000 if quick else 100_000))
    return rows
