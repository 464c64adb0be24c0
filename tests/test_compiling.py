"""numba as a core dependency: the compiled kernels are cached on disk (compiled once per
machine, with a one-line CompilationWarning when it happens), still work where numba finds no
writable cache folder, and hand a loss or dtype they do not serve to the numpy kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradfit
from gradfit.model import kernels, kernels_numba
from gradfit.model.columns import Columns
from gradfit.model.losses import LOSSES, Loss

pytestmark = pytest.mark.skipif(not kernels_numba.available(), reason="numba is not importable")

# one pass of the compiled kernel against the numpy kernel, in a fresh process; prints JSON
PASS = """
import json, warnings
import numpy as np
from gradfit.model import compiling, kernels, kernels_numba as kn
rng = np.random.default_rng(0)
X = rng.standard_normal((300, 5)); y = rng.standard_normal((300, 1))
args = (X, y, None, X.mean(0), rng.standard_normal((5, 1)), np.zeros(1), "huber", 1.0)
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    got = kn.value_grad(*args)
want = kernels.value_grad(*args)
err = max(float(np.max(np.abs(g - w)) / np.max(np.abs(w))) for g, w in zip(got, want))
print(json.dumps({"err": err, "caching": compiling.caching(),
                  "notes": [str(w.message) for w in seen
                            if w.category.__name__ == "CompilationWarning"]}))
"""


def run_pass(env_extra, code=PASS):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_cold_cache_compiles_once_with_a_note_then_loads_silently(tmp_path):
    cache = tmp_path / "numba-cache"
    first = run_pass({"NUMBA_CACHE_DIR": str(cache)})
    assert first["err"] < 1e-12 and first["caching"]
    assert len(first["notes"]) == 1, first["notes"]
    assert "compiling" in first["notes"][0] and "once per machine" in first["notes"][0]
    assert any(p.suffix == ".nbc" for p in cache.rglob("*")), "nothing was cached"
    second = run_pass({"NUMBA_CACHE_DIR": str(cache)})
    assert second["err"] < 1e-12 and second["notes"] == []  # loaded from the cache: silent


@pytest.mark.slow
def test_no_writable_cache_folder_compiles_in_memory(tmp_path):
    """A read-only installation and home: numba refuses cache=True at import ("no locator
    available"); gradfit compiles without a cache, gives the same numbers, and says that
    every process will compile again.  (Simulated as root-proof: numba may only use
    NUMBA_CACHE_DIR, which lies under a regular file.)"""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    got = run_pass({"NUMBA_CACHE_DIR": str(blocker / "cache"),
                    "NUMBA_CACHE_LOCATOR_CLASSES": "UserProvidedCacheLocator"})
    assert got["err"] < 1e-12 and not got["caching"]
    assert len(got["notes"]) == 1 and "no writable cache folder" in got["notes"][0]


# the mini-batch module's schedule entry compiles in about a second: the cache cases below
SCHEDULE = """
import json, os, shutil, sys, warnings
import numpy as np
from gradfit.model import compiling
from gradfit.solvers import minibatch_numba as mb
if len(sys.argv) > 1:  # the cache folder is lost after numba checked it at import
    shutil.rmtree(sys.argv[1]); open(sys.argv[1], "w").close()
out = np.empty(4)
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    mb._schedule_fill(1, 0.5, 0.25, 0.0, 1.0, 0, 4, out)
want = [0.5 / (1.0 + j / 4) ** 0.25 for j in range(4)]
print(json.dumps({"err": float(np.max(np.abs(out - want))), "caching": compiling.caching(),
                  "notes": [str(w.message) for w in seen
                            if w.category.__name__ == "CompilationWarning"]}))
"""


def test_read_only_package_falls_back_to_the_user_cache_folder(tmp_path):
    """numba's own fallback, as gradfit relies on it: where the folder beside the source
    cannot be written, the user-wide cache folder is used (here: XDG_CACHE_HOME)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"NUMBA_CACHE_DIR": str(blocker / "cache"), "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "NUMBA_CACHE_LOCATOR_CLASSES": "UserProvidedCacheLocator,UserWideCacheLocator"}
    got = run_pass(env, SCHEDULE)
    assert got["err"] == 0 and got["caching"]
    assert any(p.suffix == ".nbi" for p in (tmp_path / "xdg").rglob("*"))
    assert run_pass(env, SCHEDULE)["notes"] == []  # the second process loads it


def test_cache_folder_lost_after_import(tmp_path):
    """The folder numba checked at import vanishes (or turns read-only) before the first
    compile: reading the cache raises OSError inside numba; gradfit compiles in memory."""
    cache = tmp_path / "cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    code = SCHEDULE.replace("sys.argv[1]", repr(str(cache))).replace("len(sys.argv) > 1",
                                                                      "True")
    got = run_pass(env, code)
    assert got["err"] == 0 and not got["caching"]
    assert len(got["notes"]) == 1 and "no writable cache folder" in got["notes"][0]


def test_supports():
    for loss in ("squared", "huber"):
        for dt in (np.float64, np.float32, "float32"):
            assert kernels_numba.supports(loss, dt)
    assert not kernels_numba.supports("logcosh", np.float64)
    assert not kernels_numba.supports("squared", np.longdouble)
    assert not kernels_numba.supports("squared", np.int64)
    assert not kernels_numba.supports("squared", "not a dtype")


def _logcosh():
    """A loss registered at run time: log cosh(r) (smooth, curvature <= 1)."""
    return Loss("logcosh", lambda r, eps=None: np.logaddexp(r, -r) - np.log(2.0),
                lambda r, eps=None: -np.tanh(r), 1.0)


@pytest.fixture
def logcosh(monkeypatch):
    monkeypatch.setitem(LOSSES, "logcosh", _logcosh())
    return "logcosh"


def test_a_registered_loss_goes_to_the_numpy_kernel(logcosh):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((kernels_numba.BLOCK_ROWS + 50, 4))
    y = rng.standard_normal((X.shape[0], 1))
    args = (y, rng.uniform(0.5, 2, X.shape[0]), X.mean(0), rng.standard_normal((4, 1)),
            np.ones(1), logcosh, 1.0)
    want = kernels.value_grad(X, *args)
    for X2 in (X, np.asfortranarray(X), Columns([X[:, j].copy() for j in range(4)])):
        same = kernels.value_grad(np.asarray(X2) if isinstance(X2, Columns) else X2, *args)
        for g, w in zip(kernels_numba.value_grad(X2, *args), same):
            np.testing.assert_array_equal(g, w)
    # the loss's own formula, independently: sum_i s_i l(r_i) and sum_i s_i l'(r_i) x_i
    Xc = X - args[2]
    r = y[:, 0] - (Xc @ args[3][:, 0] + 1.0)
    s = args[1]
    np.testing.assert_allclose(want[0], [np.sum(s * (np.log(np.cosh(r))))], rtol=1e-12)
    np.testing.assert_allclose(want[1][:, 0], Xc.T @ (s * -np.tanh(r)), rtol=1e-12)


def _kernel_module():
    """The module whose NUMBA_MIN_CELLS gradfit.fit's kernel choice reads."""
    from gradfit.fitting import api

    return sys.modules[api.kernel_for.__module__]


@pytest.mark.parametrize("solver", ["gd", "nesterov", "lbfgs", "adam"])
def test_fit_with_a_registered_loss_takes_the_numpy_kernel_above_the_size_threshold(
        logcosh, monkeypatch, solver):
    """Above the size from which the compiled kernel is chosen, a loss it does not serve is
    fitted exactly as below it (the numpy kernel's numbers, bit for bit), and the fit is the
    loss's minimum: its gradient, computed here independently, is zero."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((400, 3)) * [1.0, 2.0, 0.5] + 1.0
    y = X @ [1.0, -2.0, 0.5] + 0.3 + rng.standard_t(3, 400)
    kw = dict(loss=logcosh, solver=solver, max_iter=3000 if solver != "adam" else 40,
              random_state=0, **({"batch_size": 32} if solver == "adam" else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        numpy_fit = gradfit.fit(X, y, **kw)
        monkeypatch.setattr(_kernel_module(), "NUMBA_MIN_CELLS", 0)
        big_fit = gradfit.fit(X, y, **kw)
    np.testing.assert_array_equal(big_fit.coef, numpy_fit.coef)
    np.testing.assert_array_equal(big_fit.intercept, numpy_fit.intercept)
    if solver != "adam":  # full batch: at the minimum
        r = y - X @ big_fit.coef - big_fit.intercept
        grad = np.append(X.T @ np.tanh(r), np.tanh(r).sum()) / len(y)
        assert np.max(np.abs(grad)) < 1e-6, grad


def test_compile_note_is_a_warning_category_the_user_can_silence():
    from gradfit.exceptions import CompilationWarning

    assert issubclass(CompilationWarning, UserWarning)
    assert "CompilationWarning" in gradfit.exceptions.__all__


def test_default_install_has_numba():
    """numba is a core dependency; the ``fast`` extra stays (empty) for old install lines."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover
        pytest.skip("tomllib is Python 3.11+")
    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    project = meta["project"]
    assert any(dep.startswith("numba") for dep in project["dependencies"])
    assert project["optional-dependencies"]["fast"] == []
