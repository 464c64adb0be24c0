"""The compiled mini-batch epoch (gradfit.solvers.minibatch_numba) against the training loop's
Python epoch: the same numbers (bit for bit with the compiled pass kernel, to 1e-10 with the numpy
one), the same random stream, and the conditions under which gradfit.fit dispatches to it."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import gradfit
from gradfit.data.memory import InMemory
from gradfit.fitting import driver
from gradfit.model import kernels_numba
from gradfit.model.backend import Capabilities
from gradfit.model.objective import Objective
from gradfit.model.penalties import make_penalty
from gradfit.solvers import minibatch_numba as mb
from gradfit.solvers.engine import LoopConfig, train
from gradfit.solvers.schedules import make_schedule

pytestmark = pytest.mark.skipif(not mb.available(), reason="numba is not installed")


def problem(n=203, d=5, outputs=None, weights=False, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + 2
    W = rng.standard_normal((d,) if outputs is None else (d, outputs))
    y = X @ W + 1 + rng.standard_normal((n,) if outputs is None else (n, outputs))
    sw = rng.uniform(0.2, 3, n) if weights else None
    return X.astype(dtype), y, sw


@pytest.fixture
def compiled_kernel(monkeypatch):
    """gradfit.fit picks the compiled pass kernel (and so the compiled epoch) for any size."""
    monkeypatch.setattr(driver, "NUMBA_MIN_CELLS", 0)


def fit_both(monkeypatch, X, y, sw=None, **params):
    """(compiled epoch, Python epoch) fits with the same parameters."""
    params = dict(dict(max_iter=4, tol=0, random_state=1), **params)
    calls = []
    real = mb.epoch_runner

    def spy(*args, **kwargs):
        run = real(*args, **kwargs)
        calls.append(run is not None)
        return run

    monkeypatch.setattr(mb, "epoch_runner", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = gradfit.fit(X, y, sw, **params)
        assert calls == [True], "the compiled epoch was not used"
        monkeypatch.setattr(mb, "MAX_BATCH", 0)
        ref = gradfit.fit(X, y, sw, **params)
        assert calls == [True, False]
    return fast, ref


def assert_same(a, b):
    np.testing.assert_array_equal(a.coef, b.coef)
    np.testing.assert_array_equal(a.intercept, b.intercept)
    np.testing.assert_array_equal(a.history.objective, b.history.objective)
    assert a.n_iter == b.n_iter and a.stop_reason == b.stop_reason


CASES = [
    dict(solver="gd", batch_size=1),
    dict(solver="gd", batch_size=7, penalty="l1", alpha=0.05),
    dict(solver="momentum", batch_size=16, penalty="l2", alpha=0.1),
    dict(solver="momentum", batch_size=5, momentum=0.5, average=False),
    dict(solver="nesterov", batch_size=32, penalty="elasticnet", alpha=0.05, l1_ratio=0.3),
    dict(solver="nesterov", batch_size=3, schedule="cosine"),
    dict(solver="adam", batch_size=1, penalty="l1", alpha=0.02),
    dict(solver="adam", batch_size=9, schedule="step", loss="huber", epsilon=0.5),
    dict(solver="gd", batch_size=4, loss="huber", epsilon=0.3, fit_intercept=False),
    dict(solver="gd", batch_size=6, schedule="constant", standardize=False),
    dict(solver="gd", batch_size=11, schedule=lambda t: 0.01 / (1 + t)),  # any callable
    dict(solver="momentum", batch_size=8, early_stopping=True, max_iter=8),
]


@pytest.mark.parametrize("params", CASES, ids=lambda p: "-".join(
    "callable" if callable(v) else str(v) for v in p.values()))
@pytest.mark.parametrize("weights", [False, True])
def test_compiled_epoch_is_the_python_epoch_bit_for_bit(compiled_kernel, monkeypatch, params,
                                                        weights):
    X, y, sw = problem(weights=weights)
    assert_same(*fit_both(monkeypatch, X, y, sw, **params))


@pytest.mark.parametrize("solver", ["gd", "momentum", "nesterov", "adam"])
def test_multi_output_and_float32(compiled_kernel, monkeypatch, solver):
    X, y, sw = problem(outputs=3, weights=True, dtype=np.float32)
    assert_same(*fit_both(monkeypatch, X, y, sw, solver=solver, batch_size=10,
                          penalty="elasticnet", alpha=0.01))


def test_same_seed_twice_is_bit_identical(compiled_kernel):
    X, y, _ = problem(n=500)
    kw = dict(solver="adam", batch_size=4, max_iter=5, tol=0, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = gradfit.fit(X, y, **kw), gradfit.fit(X, y, **kw)
        c = gradfit.fit(X, y, **dict(kw, random_state=4))
    assert_same(a, b)
    assert not np.array_equal(a.coef, c.coef)  # the seed drives the shuffling


def _loop(obj, batch_size, solver, epochs, compiled, rng_seed=5, **cfg_kw):
    from gradfit.fitting.driver import make_optimizer
    from gradfit.fitting.params import FitParams

    p = FitParams(solver=solver, batch_size=batch_size)
    lr0 = 0.5 / obj.batch_lipschitz(batch_size)
    schedule = make_schedule("auto", lr0, max_iter=epochs, minibatch=True)
    run = mb.epoch_runner(obj, batch_size, solver, p.momentum, schedule, exact_only=False)
    assert run is not None
    cfg = LoopConfig(optimizer=make_optimizer(p, True), schedule=schedule, max_iter=epochs,
                     average=True, compiled_epoch=run if compiled else None, **cfg_kw)
    P0 = obj.zeros()
    P0[obj.d] = obj.data.y.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(obj, mb_source(obj, batch_size), P0, cfg, np.random.default_rng(rng_seed))


def mb_source(obj, batch_size):
    from gradfit.solvers.sources import BatchSource

    return BatchSource(obj.data, batch_size)


def objective(X, y, sw, kernel=None, penalty=None, alpha=0.0):
    y2 = y.reshape(len(y), -1)
    return Objective(InMemory(X, y2, sw), loss="squared", epsilon=1.35,
                     penalty=make_penalty(penalty, alpha, 0.5), fit_intercept=True,
                     standardize=True, kernel=kernel)


@pytest.mark.parametrize("solver", ["gd", "momentum", "nesterov", "adam"])
def test_equal_to_the_numpy_kernel_loop_to_1e_10(solver):
    """With the numpy pass kernel (BLAS sums in its own order) the loop's numbers agree to
    rounding after a few epochs."""
    X, y, sw = problem(n=300, weights=True)
    obj = objective(X, y, sw, penalty="elasticnet", alpha=0.01)
    fast = _loop(obj, 8, solver, 4, compiled=True)
    ref = _loop(obj, 8, solver, 4, compiled=False)
    np.testing.assert_allclose(fast.P, ref.P, rtol=1e-10, atol=0)
    np.testing.assert_allclose(fast.history.objective, ref.history.objective, rtol=1e-10)


def test_checkpoint_resume_with_the_compiled_epoch():
    """The state handed to on_epoch_end (optimizer state, average, generator) resumes to the
    uninterrupted run's numbers: the compiled epoch keeps the loop's state types."""
    X, y, _ = problem(n=150)
    obj = objective(X, y, None, kernel=kernels_numba.value_grad)
    whole = _loop(obj, 4, "adam", 6, compiled=True)
    saved = []

    def keep(state):
        if state.epoch == 3:
            saved.append(copy.deepcopy(state))

    _loop(obj, 4, "adam", 6, compiled=True, on_epoch_end=keep)
    assert saved[0].epoch == 3 and saved[0].state.t == 3 * 38
    resumed = _loop(obj, 4, "adam", 6, compiled=True, resume_state=saved[0])
    np.testing.assert_array_equal(resumed.P, whole.P)
    python = _loop(obj, 4, "adam", 6, compiled=False)
    np.testing.assert_array_equal(python.P, whole.P)


def test_dispatch_conditions(monkeypatch):
    X, y, _ = problem(n=100)
    sched = make_schedule("auto", 0.01, max_iter=10, minibatch=True)
    fast = objective(X, y, None, kernel=kernels_numba.value_grad)
    slow = objective(X, y, None)  # the numpy kernel: bit for bit is not promised
    assert mb.epoch_runner(fast, 8, "gd", 0.9, sched) is not None
    assert mb.epoch_runner(slow, 8, "gd", 0.9, sched) is None
    assert mb.epoch_runner(slow, 8, "gd", 0.9, sched, exact_only=False) is not None
    assert mb.epoch_runner(fast, 100, "gd", 0.9, sched) is None  # the whole data: full batch
    assert mb.epoch_runner(fast, None, "gd", 0.9, sched) is None
    assert mb.epoch_runner(fast, 8, "lbfgs", 0.9, sched) is None
    custom = Objective(fast.data, loss="squared", epsilon=1.0, penalty=make_penalty(None, 0, 0),
                       fit_intercept=True, standardize=True, kernel=lambda *a: None)
    assert mb.epoch_runner(custom, 8, "gd", 0.9, sched) is None

    class Other(InMemory):  # any other backend (files, Dask) keeps the Python loop
        capabilities = Capabilities()  # it says it is not arrays in memory

    other = objective(X, y, None, kernel=kernels_numba.value_grad)
    other.data = Other(X, y[:, None], None)
    assert mb.epoch_runner(other, 8, "gd", 0.9, sched) is None
    monkeypatch.setattr(mb, "MAX_BATCH", 4)
    assert mb.epoch_runner(fast, 8, "gd", 0.9, sched) is None
    monkeypatch.setattr(mb, "numba", None)
    assert mb.epoch_runner(fast, 2, "gd", 0.9, sched) is None


def test_fit_uses_it_only_with_the_compiled_kernel(monkeypatch):
    """Small X takes the numpy kernel and the Python epoch (partial_fit's numbers)."""
    X, y, _ = problem(n=100)
    seen = []
    real = mb.epoch_runner
    monkeypatch.setattr(mb, "epoch_runner",
                        lambda *a, **k: seen.append(real(*a, **k) is not None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gradfit.fit(X, y, batch_size=4, max_iter=1)
        monkeypatch.setattr(driver, "NUMBA_MIN_CELLS", 0)
        gradfit.fit(X, y, batch_size=4, max_iter=1)
        gradfit.fit(X, y, max_iter=1)  # full batch: not asked
    assert seen == [False, True]


def test_float32_is_read_as_stored(monkeypatch):
    """No float64 copy of X: the compiled epoch gets the caller's float32 buffer."""
    X, y, _ = problem(n=64, dtype=np.float32)
    seen = []
    real = mb._epoch_chunk

    def spy(Xc, *args, **kw):
        seen.append(Xc)
        return real(Xc, *args, **kw)

    monkeypatch.setattr(mb, "_epoch_chunk", spy)
    obj = objective(X, y, None, kernel=kernels_numba.value_grad)
    run = mb.epoch_runner(obj, 4, "gd", 0.9, lambda t: 0.01)
    P = obj.zeros()
    run(P, (), None, 0, 1, np.random.default_rng(0))
    assert seen and all(a is X for a in seen)


def test_schedule_values_are_the_python_schedule():
    """The built-in schedules evaluated compiled give the Python schedule's bits."""
    nb = 1000
    out = np.empty(nb)
    for name in ("constant", "inverse_scaling", "step", "cosine"):
        s = make_schedule(name, 0.0123, max_iter=37, minibatch=True)
        spec = mb._schedule_spec(s)
        assert spec is not None, name
        for epoch in (1, 2, 9, 40):
            kind, a, b, lr0 = spec
            mb._schedule_fill(kind, lr0, a, b, float(epoch), 0, nb, out)  # no Python fallback
            got = out.copy()
            want = [s(epoch - 1.0 + j / nb) for j in range(nb)]
            np.testing.assert_array_equal(got, want)
    assert mb._schedule_spec(lambda t: 1.0) is None
