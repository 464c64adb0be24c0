"""Warnings point at the user's line (issue 11, item 6).

Every warning a fit raises through ``GDRegressor.fit``, ``gradfit.fit``, ``fit_files`` or
``lasso_path`` is attributed (``filename``, ``lineno``) to the line that called it, here this
test file; on the command line the same warnings name the flags (``--max-iter 3``), not the
library's keywords (``max_iter=3``); and summaries of a design with a constant or all-zero
column raise no RuntimeWarning (warnings are errors in these tests).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

import gradfit
from cli_helpers import cli
from gradfit import GDRegressor


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 100.0]
    return X, X @ [1.0, 2.0, 3.0] + rng.normal(size=n)


def _assert_here(seen, line, category=ConvergenceWarning):
    mine = [w for w in seen if issubclass(w.category, category)]
    assert mine, [str(w.message) for w in seen]
    for w in mine:
        assert (w.filename, w.lineno) == (__file__, line), (w.filename, w.lineno, w.message)


# every entry point, a fit that stops before it converges (3 epochs in the caller's units)
ENTRY_POINTS = {
    "GDRegressor.fit": lambda X, y: GDRegressor(solver="gd", max_iter=3,
                                                standardize=False).fit(X, y),
    "GDRegressor.fit(huber)": lambda X, y: GDRegressor(solver="adam", loss="huber",
                                                       max_iter=3).fit(X, y),
    "gradfit.fit": lambda X, y: gradfit.fit(X, y, solver="nesterov", max_iter=3,
                                            learning_rate=1e-6),
    "gradfit.fit(lbfgs)": lambda X, y: gradfit.fit(X, y, solver="lbfgs", max_iter=1,
                                                   standardize=False),
    "gradfit.fit(l1)": lambda X, y: gradfit.fit(X, y, solver="gd", penalty="l1", alpha=0.1,
                                                max_iter=3, standardize=False),
    "lasso_path": lambda X, y: gradfit.lasso_path(np.column_stack([X, X[:, :1] + 1e-3 * X[:, 1:2]]),
                                                  y, alphas=[1.0, 0.001], max_iter=1,
                                                  tol=1e-12),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_convergence_warnings_point_at_the_callers_line(entry):
    X, y = _data()
    fn = ENTRY_POINTS[entry]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn(X, y)
    # the lambda's body is on the dictionary's lines: the warning belongs to the frame that
    # called into gradfit, the lambda in this file
    mine = [w for w in seen if issubclass(w.category, ConvergenceWarning)]
    assert mine, [str(w.message) for w in seen]
    for w in mine:
        assert w.filename == __file__, (w.filename, w.lineno, str(w.message))


def test_fit_files_and_its_cache_warnings_point_at_the_callers_line(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    pd.DataFrame(np.column_stack([X, y]), columns=["a", "b", "c", "y"]).to_csv(path,
                                                                              index=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        gradfit.fit_files(path, "y", solver="gd", max_iter=3, standardize=False, cache=blocker)
    _assert_here(seen, line, ConvergenceWarning)
    _assert_here(seen, line, RuntimeWarning)  # the cache that could not be written


def test_estimator_warning_line_is_the_fit_line():
    X, y = _data()
    model = GDRegressor(solver="momentum", max_iter=2, standardize=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        model.fit(X, y)
    _assert_here(seen, line)


@pytest.mark.parametrize("argv,flags,words", [
    (["--solver", "gd", "--max-iter", "3", "--no-standardize"],
     ["--max-iter 3", "--solver nesterov", "--max-iter,"], ["max_iter", "solver="]),
    (["--solver", "nesterov", "--max-iter", "2", "--learning-rate", "1e-6"],
     ["--max-iter 2", "--solver lbfgs"], ["max_iter", "solver=", "'nesterov'"]),
    (["--solver", "gd", "--max-iter", "3", "--no-standardize", "--stream"],
     ["--max-iter 3", "--solver nesterov"], ["max_iter", "solver="]),
])
def test_cli_warnings_name_the_flags(capsys, tmp_path, argv, flags, words):
    X, y = _data()
    path = tmp_path / "d.csv"
    pd.DataFrame(np.column_stack([X, y]), columns=["a", "b", "c", "y"]).to_csv(path,
                                                                              index=False)
    code, out, err = cli(capsys, "fit", path, "-t", "y", *argv)
    assert code == 0, err
    warned = [line for line in err.splitlines() if line.startswith("gradfit: warning:")]
    assert warned and "did not converge" in warned[0], err
    for flag in flags:
        assert flag in warned[0], (flag, warned[0])
    for word in words:
        assert word not in warned[0], (word, warned[0])


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("solver", ["nesterov", "exact", "lbfgs", "cd"])
def test_constant_and_zero_columns_raise_no_runtime_warning(solver, fit_intercept):
    """A constant column (collinear with the intercept) and a column of zeros: the fit, its
    certificate and the summary (HC3 leverages included) raise no RuntimeWarning, and the
    certificate is not fooled into 'ill-conditioned' by a column the objective does not
    see: the fit converges to the fit without those columns."""
    X, y = _data()
    Xc = np.column_stack([X, np.full(len(y), 7.0), np.zeros(len(y))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = GDRegressor(solver=solver, fit_intercept=fit_intercept).fit(Xc, y)
        text = str(model.summary())
        str(model.summary(cov_type="HC3"))
    assert "rank deficient" in text
    ref = np.linalg.lstsq(np.column_stack([np.ones(len(y)), X]) if fit_intercept
                          else np.column_stack([X, np.full(len(y), 7.0)]), y, rcond=None)[0]
    got = model.coef_[:3] if fit_intercept else model.coef_[:4]
    want = ref[1:] if fit_intercept else ref
    np.testing.assert_allclose(got, want, rtol=1e-7)
    assert model.coef_[-1] == 0.0
    if solver != "exact":
        assert model.converged_, model.stop_reason_
        assert model.certificate_["digits"] >= 6, model.certificate_
